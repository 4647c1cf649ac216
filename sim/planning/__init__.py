"""Placement planning: where the next units go, judged by simulation (issue 14).

``candidates`` (the pinned layout and the cells a unit may stand on), ``demand`` (expected
counted incidents per cell from the model's own incident generation), ``coverage`` (which
demand each site reaches within the tier's target by the model's own travel), ``optimize``
(MCLP with PySAL's spopt on HiGHS), ``evaluate`` (base vs optimised vs random placements,
paired over replications with common random numbers) and ``report`` (the output files).
Nothing here changes the model; the planning extra (``pip install jiefang[plan]``) brings
spopt, PuLP and highspy.
"""
