"""Analysis of records: tier times and compliance (metrics), intervals (stats), the run
summary, scenario comparison, plots and the HTML report."""
