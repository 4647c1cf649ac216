"""What people use: the ``jiefang`` command line (cli) and the browser view (app).

A process started here (and every sweep worker it starts, which inherits the environment)
runs its BLAS on one thread unless the user says otherwise: jiefang's matrices are small,
and OpenBLAS's idle threads (numpy's and SciPy's copies) spin after each call, which cost a
city day's run about 0.2 s of CPU (4.5 % of its samples) and bought nothing.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
