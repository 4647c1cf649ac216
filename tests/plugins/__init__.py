"""Plug-in packages the suite installs through their entry points (editable.py)."""
