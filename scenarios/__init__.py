"""The shipped scenarios, installed as the data package ``sim.scenarios``.

Only data lives here: the YAML files and the files they name. This file makes the folder a
regular package so that ``importlib.resources.files("sim.scenarios")`` finds it in a wheel
and in an editable install alike (setuptools' editable finder maps only regular packages).
Read it through :mod:`sim.model.catalogue`, never by a path into the repository.
"""
