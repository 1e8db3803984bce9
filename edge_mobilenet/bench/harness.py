"""Benchmark models on a target: latency (per thread count), cost, the model's own
memory, time per op and layer, and parity with the host. Returns the
`edgemb bench --json` record; printing lives in the CLI and report.py.

    runners = models.open_models([Path("export/run")])
    record = benchmark(runners, get_target("cpu"), Settings(threads=(1, 2)))

Every model is opened on the host first (a bad file fails before any timing), then
run on the target with the same real input bytes, and the target's outputs are
compared with the host's. MACs and parameters are read from the model's own graph
(runtime/graph_cost.py); where edgemb.json names the arch, the cost model's count
is the reference and a graph that disagrees with it is reported.
"""
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cost import profile
from ..data.fashion_mnist import load_fashion_mnist, preprocess_gray
from ..data.preprocess import Preprocessing
from ..errors import EdgembError
from ..io import owned_prefix, sweep_stale
from ..progress import Progress, no_progress
from ..run import RUN_FILE
from ..runtime import Runner, load_runner
from .models import label
from .op_layers import gmacs_per_s, graph_layers, rollup_ops

SCHEMA = "edgemb.bench/1"
PARITY_IMAGES = 8
TWIN_FOLDER = "edgemb-twin"  # in the temporary folder, named after its owner process


@dataclass(frozen=True)
class Settings:
    """Defaults in the spirit of TFLite's benchmark_model: one thread, 50 timed runs.
    threads: one count or several (a sweep; the first is the headline figure).
    profile_ops: per-op times too (at the first thread count), from runs of their own."""
    threads: tuple[int, ...] | int = (1,)
    runs: int = 50
    warmup: int = 5
    profile_ops: bool = True

    def __post_init__(self):
        counts = (self.threads,) if isinstance(self.threads, int) else tuple(self.threads)
        object.__setattr__(self, "threads", tuple(dict.fromkeys(counts)))

    def to_json(self) -> dict:
        """`threads` stays the headline count (an int, as it always was); all of them: thread_counts."""
        return {"threads": self.threads[0], "thread_counts": list(self.threads), "runs": self.runs,
                "warmup": self.warmup, "profile_ops": self.profile_ops}


def parity_pixels(pre: Preprocessing, count: int = PARITY_IMAGES) -> np.ndarray:
    """The fixed real inputs every target runs: the first Fashion-MNIST test images,
    through the given preprocessing (uint8 N x R x R x 3)."""
    images, _ = load_fashion_mnist("test")
    return preprocess_gray(images[:count], pre)


def preprocessing_of(runner: Runner) -> Preprocessing:
    """The run's preprocessing, or for a model without edgemb.json the usual one at its resolution."""
    return runner.info.preprocessing if runner.info else Preprocessing.for_resolution(runner.resolution)


def latency_stats(samples_ms: list[float]) -> dict:
    ms = np.asarray(samples_ms, np.float64)
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "min": float(ms.min()),
            "mean": float(ms.mean()), "std": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
            "samples": [round(float(x), 4) for x in ms]}


def cost_record(runner: Runner) -> tuple[dict, list]:
    """(macs, params, graph_macs, graph_params, cost_check fields; the layers op times map onto)."""
    graph = runner.graph_cost()
    fields = {"graph_macs": graph.macs if graph else None, "graph_params": graph.params if graph else None}
    if runner.info is None:
        if graph is None:  # nothing to count from
            return fields | {"macs": None, "params": None, "macs_from": None, "cost_check": None}, []
        return fields | {"macs": graph.macs, "params": graph.params, "macs_from": "graph",
                         "cost_check": None}, graph_layers(graph)
    info = runner.info
    cost = profile(info.arch, info.alpha, info.resolution, info.num_classes)
    check = None
    if graph is not None:
        check = {"arch_macs": cost.macs, "graph_macs": graph.macs, "agree": graph.macs == cost.macs}
    return fields | {"macs": cost.macs, "params": cost.params, "macs_from": "arch (edgemb.json)",
                     "cost_check": check}, cost.layers


def bench_model(runner: Runner, target, settings: Settings, pixels: np.ndarray) -> dict:
    """Run one model on the target at every thread count and return its result record."""
    info = runner.info
    inputs, source = runner.bench_input(pixels)
    host = np.concatenate([runner.invoke(x[None]) for x in inputs])
    cost, layers = cost_record(runner)
    sweep, first = [], None
    for n, threads in enumerate(settings.threads):
        run = target.run(runner.path, inputs, threads=threads, runs=settings.runs, warmup=settings.warmup,
                         profile_ops=settings.profile_ops and n == 0)
        latency = latency_stats(run["latency_ms"])
        first = first or (run, latency)
        sweep.append({"threads": threads, "latency_ms": latency, "gmacs_per_s": cost["macs"] and gmacs_per_s(cost["macs"], latency["median"]),
                      "peak_memory_bytes": run["peak_memory_bytes"],
                      "speedup": first[1]["median"] / latency["median"]})
    run, latency = first
    outputs = np.asarray(run["outputs"], np.float32)
    if outputs.shape != host.shape:
        raise RuntimeError(f"{target.name} returned outputs of shape {outputs.shape}, expected {host.shape}")
    return {
        "model": str(runner.path), "label": label(runner.path), "format": runner.format,
        "precision": runner.precision, "interpreter": run["interpreter"],
        "arch": info and info.arch, "alpha": info and info.alpha, "resolution": runner.resolution,
        "num_classes": int(host.shape[1]),
        "unknown": None if info else (f"no {RUN_FILE}: arch, class names and preprocessing unknown, so no "
                                      "accuracy; MACs and parameters from the graph"),
        "input": {"shape": [int(d) for d in runner.input_shape], "dtype": runner.input_dtype.name,
                  "source": source, "sha256": hashlib.sha256(np.ascontiguousarray(inputs).tobytes()).hexdigest()},
        "latency_ms": latency, **cost, "size_bytes": runner.size_bytes,
        "gmacs_per_s": sweep[0]["gmacs_per_s"],
        "peak_memory_bytes": run["peak_memory_bytes"], "peak_rss_bytes": run["peak_rss_bytes"],
        "threads": sweep,
        "parity": {"images": len(pixels), "max_abs_diff": float(np.abs(outputs - host).max()),
                   "top1_agreement": float((outputs.argmax(1) == host.argmax(1)).mean())},
        "op_profile": (rollup_ops(run["op_profile"], layers, latency["median"]) | {"runs": run["op_profile_runs"]}
                       if run["op_profile"] else None),
        "op_profile_unavailable": run.get("op_profile_unavailable"),  # why not, where the runtime says
    }


def bench_twin(runner: Runner, target, settings: Settings, pixels: np.ndarray, folder: Path,
               int8_formats: set[str]) -> dict:
    """Benchmark the standard-conv twin of `runner`'s model in its format and precision.
    Each format's twin is exported once into folder/FORMAT, in int8 where `int8_formats`
    holds the format: an int8 export writes the fp32 model too, which the fp32 runner's twin reuses."""
    from .twin import export_random, twin_file, twin_info

    fmt, exported = runner.format, folder / runner.format
    if not exported.exists():
        export_random(twin_info(runner.info), fmt, "int8" if fmt in int8_formats else "fp32", pixels, exported)
    twin = load_runner(twin_file(exported, fmt, runner.precision), settings.threads[0])
    result = bench_model(twin, target, settings, pixels)
    return result | {"model": f"conv twin of {runner.path}", "label": f"{twin.info.arch} twin ({label(runner.path)})"}


def count_steps(runners: list[Runner], compare_conv: bool) -> int:
    return len(runners) * (2 if compare_conv else 1)


def benchmark(runners: list[Runner], target, settings: Settings, compare_conv: bool = False,
              progress: Progress = no_progress) -> dict:
    """The `--json` record. `progress(done, total, description)` hears each step as it
    starts (a step: one model, or its twin, on the target).

    schema, device {name, machine (cpu, cores, arch, how, ...), emulated}, settings
    {threads (the first count), thread_counts, runs, warmup, profile_ops}, results
    [{model, label, format, precision, interpreter, arch, alpha, resolution,
    num_classes, unknown (why accuracy and arch are not known, or null), input {shape, dtype, source, sha256},
    latency_ms {median, p90, min, mean, std, samples}, macs, params, macs_from,
    graph_macs, graph_params, cost_check {arch_macs, graph_macs, agree} or null,
    size_bytes, gmacs_per_s, peak_memory_bytes (the model's own RSS growth, in a
    process of its own), peak_rss_bytes (that whole process's peak), threads
    [{threads, latency_ms, gmacs_per_s, peak_memory_bytes, speedup}], parity {images,
    max_abs_diff, top1_agreement}, op_profile {total_ms, layers_mapped, resolved, runs,
    by_op, by_kind, layers} or null, and with compare_conv, conv_comparison (see
    conv_compare.py)}], conv_comparison: the first result's, or null. The figures
    without a thread count are those of the first.
    """
    from .conv_compare import conv_comparison

    for runner in runners:  # say what cannot work before any work
        target.check(runner.path)
        if compare_conv:
            from .twin import twin_info
            if runner.info is None:
                raise EdgembError(f"{runner.path}: --compare-conv needs the {RUN_FILE} beside the model "
                                  "(its arch) to build the standard-conv twin")
            twin_info(runner.info)
    results, done, total = [], 0, count_steps(runners, compare_conv)
    int8_formats = {runner.format for runner in runners if runner.precision == "int8"}
    sweep_stale(tempfile.gettempdir(), TWIN_FOLDER)  # what a killed bench left
    with tempfile.TemporaryDirectory(prefix=owned_prefix(TWIN_FOLDER, "partial")) as twins:
        for runner in runners:
            progress(done, total, f"{label(runner.path)} on {target.name}")
            pixels = parity_pixels(preprocessing_of(runner))
            result = bench_model(runner, target, settings, pixels)
            done += 1
            if compare_conv:
                progress(done, total, f"standard-conv twin of {label(runner.path)}")
                twin = bench_twin(runner, target, settings, pixels, Path(twins), int8_formats)
                result["conv_comparison"] = conv_comparison(result, twin)
                done += 1
            results.append(result)
    progress(done, total, "done")
    emulated = bool(target.machine.get("emulated"))
    record = {"schema": SCHEMA, "device": {"name": target.name, "machine": target.machine, "emulated": emulated},
              "settings": settings.to_json(), "results": results}
    compared = [r["conv_comparison"] for r in results if "conv_comparison" in r]
    record["conv_comparison"] = compared[0] if compared else None
    return record
