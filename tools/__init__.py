"""Documentation generators, run from the repository root (``python -m tools.paramdoc``);
not part of the installed package."""
