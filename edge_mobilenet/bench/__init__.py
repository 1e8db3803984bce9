"""`edgemb bench`: latency, cost and parity of models on a target (harness.py), the
targets themselves (targets.py, runner_script.py, arm64.py), PyTorch eager on this
machine (torch_eager.py), the standard-conv twin for --compare-conv (twin.py) and the
tables, plots and HTML page (report.py)."""
