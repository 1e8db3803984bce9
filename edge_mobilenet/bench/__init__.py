"""`edgemb bench`: which models (models.py), latency per thread count, cost, the model's
own memory and parity on a target (harness.py), per-op times rolled up onto layers
(op_layers.py), the targets themselves (targets.py, runner_script.py, torch_eager.py,
arm64.py), the standard-conv twin for --compare-conv (twin.py, conv_compare.py) and the
tables, plots and HTML page (report.py, with ../report_html.py)."""
