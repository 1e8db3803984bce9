"""The machine a benchmark ran on, recorded with every result: the same description
`edgemb bench` gives its targets."""
from edge_mobilenet.bench.runner_script import machine_info

__all__ = ["machine_info"]
