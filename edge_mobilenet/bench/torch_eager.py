"""PyTorch eager on this machine, timed the way the targets time .tflite and .onnx
(they run those two only): in a child process of its own, so that peak RSS is the
model's; every input once for the outputs, then the first input `warmup` times
untimed and `runs` times timed; per-op times in a separate pass.

    python -m edge_mobilenet.bench.torch_eager MODEL FOLDER THREADS RUNS WARMUP PROFILE_OPS

reads FOLDER/inputs.npy and writes FOLDER/outputs.npy and FOLDER/result.json."""
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..runtime import load_runner


def run_pytorch(path: Path, inputs: np.ndarray, threads: int, runs: int, warmup: int, profile_ops: bool) -> dict:
    """The same result as Target.run, for a run directory or .pt checkpoint."""
    with tempfile.TemporaryDirectory(prefix="edgemb-torch-") as folder:
        np.save(Path(folder) / "inputs.npy", inputs)
        child = subprocess.run([sys.executable, "-m", __name__, str(path), folder, str(threads), str(runs),
                                str(warmup), str(int(profile_ops))], capture_output=True, text=True)
        if child.returncode != 0:
            raise RuntimeError(f"PyTorch run of {path} failed:\n{child.stderr[-3000:]}")
        result = json.loads((Path(folder) / "result.json").read_text())
        return result | {"outputs": np.load(Path(folder) / "outputs.npy")}


def run(path, inputs, threads, runs, warmup, profile_ops) -> tuple[np.ndarray, dict]:
    runner = load_runner(path, threads)
    outputs = np.concatenate([runner.invoke(x[None]) for x in inputs])
    first = inputs[:1]
    for _ in range(warmup):
        runner.invoke(first)
    latency_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke(first)
        latency_ms.append((time.perf_counter() - start) * 1000)
    return outputs, {"latency_ms": latency_ms,
                     "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # Linux: KiB
                     "op_profile": module_times(runner, first, runs) if profile_ops else None,
                     "interpreter": f"torch {torch.__version__} eager"}


def op_name(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels:
        return "Conv2d (depthwise)"
    return type(module).__name__


def module_times(runner, tensor: np.ndarray, runs: int) -> list[dict]:
    """Average time of every leaf module (conv, BatchNorm, activation, linear) per
    inference, in execution order, from forward hooks."""
    starts: dict[str, float] = {}
    times: dict[str, list[float]] = {}  # first call first: execution order

    def before(name):
        def hook(module, args):
            starts[name] = time.perf_counter()
        return hook

    def after(name):
        def hook(module, args, output):
            times.setdefault(name, []).append(time.perf_counter() - starts[name])
        return hook

    leaves = {name: m for name, m in runner.model.named_modules() if not list(m.children())}
    handles = [hook for name, m in leaves.items()
               for hook in (m.register_forward_pre_hook(before(name)), m.register_forward_hook(after(name)))]
    try:
        for _ in range(runs):
            runner.invoke(tensor)
    finally:
        for handle in handles:
            handle.remove()
    return [{"op": op_name(leaves[name]), "node": name, "ms": 1000 * sum(t) / len(t)} for name, t in times.items()]


if __name__ == "__main__":
    model, folder, *numbers = sys.argv[1:]
    threads, runs, warmup, profile_ops = map(int, numbers)
    outputs, result = run(model, np.load(Path(folder) / "inputs.npy"), threads, runs, warmup, bool(profile_ops))
    np.save(Path(folder) / "outputs.npy", outputs)
    (Path(folder) / "result.json").write_text(json.dumps(result))
