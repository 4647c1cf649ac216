"""``python -m sim`` is the ``jiefang`` command."""

from sim.interface.cli import main

raise SystemExit(main())
