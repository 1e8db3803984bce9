"""`edgemb bench`: latency, cost and parity of models on a target (harness.py),
the targets themselves (targets.py) and the tables, plots and HTML page (report.py)."""
