"""The experiment machinery: replications (runner), run folders (results, store), sweeps
(sweep files, the batch driver, executors for processes and Dask), the resumable store, and
what reads folders back: scenario comparison (compare) and the HTML report (report)."""
