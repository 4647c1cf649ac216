"""The experiment machinery: replications (runner), run folders (results, store), sweeps
(sweep files, the batch driver, executors for processes and Dask) and the resumable store."""
