"""What people use: the ``jiefang`` command line (cli) and the browser view (app)."""
