"""PyTorch eager on this machine, timed the way runner_script.py times .tflite and
.onnx, and with the same command line and JSON result (LocalTarget runs either):
in a process of its own, so that peak memory is the model's; every input once for
the outputs, then the first input `warmup` times untimed and `runs` times timed;
per-op times (forward hooks on every leaf module) in a separate pass.

    python -m edge_mobilenet.bench.torch_eager MODEL INPUTS.npy [--threads T] [--runs N] [--warmup W] [--profile-ops]
"""
import argparse
import base64
import json
import resource
import sys
import time

import numpy as np
import torch
from torch import nn

from ..errors import EdgembError
from ..runtime import load_runner
from .runner_script import PROFILE_SECONDS, memory_status, reset_peak


def run(path, inputs, threads, runs, warmup, profile_ops) -> dict:
    baseline, _ = memory_status()
    peak_was_reset = reset_peak()
    runner = load_runner(path, threads)
    if inputs.shape[1:] != runner.input_shape[1:] or inputs.dtype != runner.input_dtype:
        raise EdgembError(f"the model takes {runner.input_dtype} {list(runner.input_shape)} inputs, "
                          f"got {inputs.dtype} {list(inputs.shape)}")
    outputs = np.concatenate([runner.invoke(x[None]) for x in inputs]).astype(np.float32)
    first = inputs[:1]
    for _ in range(warmup):
        runner.invoke(first)
    latency_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        runner.invoke(first)
        latency_ms.append((time.perf_counter() - start) * 1000)
    current, peak = memory_status()
    peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    profile_runs = max(runs, min(200, int(PROFILE_SECONDS / max(np.median(latency_ms) / 1000, 1e-6))))
    return {"latency_ms": latency_ms,
            "outputs": {"shape": list(outputs.shape), "float32_base64": base64.b64encode(outputs.tobytes()).decode()},
            "peak_memory_bytes": max(peak if peak_was_reset else peak_rss_bytes, current) - baseline,
            "peak_rss_bytes": peak_rss_bytes,
            "op_profile": module_times(runner, first, profile_runs) if profile_ops else None,
            "op_profile_runs": profile_runs if profile_ops else 0,
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("inputs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile-ops", action="store_true")
    args = parser.parse_args()
    try:
        result = run(args.model, np.load(args.inputs), args.threads, args.runs, args.warmup, args.profile_ops)
    except EdgembError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
