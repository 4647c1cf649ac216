"""Analysis of tables: tier times and compliance (metrics), intervals (stats), the run
summary, breakdowns, plots, GIS layers of results and value labels. It reads no run folder
(that is :mod:`sim.experiment`: results, compare, report) and imports nothing above geo."""
