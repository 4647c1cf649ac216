"""Real geography (issue 15): coordinate frames, rasters, vector sites, road networks.

Everything here needs the ``geo`` extra (``pip install 'jiefang[geo]'``) except the plain
grid <-> CRS arithmetic of :mod:`sim.geo.crs`; a grid scenario never imports this package's
heavy dependencies.
"""
