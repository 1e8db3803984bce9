"""Benchmark models on a target: latency, cost, memory, time per op and layer, and
parity with the host. Returns the `edgemb bench --json` record; printing lives in
the CLI and report.py.

    runners = open_models([Path("export/run")])
    record = benchmark(runners, get_target("cpu"), Settings())

Every model is opened on the host first (a bad file fails before any timing), then
run on the target with the same real inputs, and the target's outputs are compared
with the host's. Cost (MACs, params, per layer) comes from the arch in edgemb.json,
so every format gets the same figures.
"""
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..cost import LayerCost, Profile, profile
from ..data.fashion_mnist import load_fashion_mnist, preprocess_gray
from ..errors import EdgembError
from ..run import RUN_FILE, WEIGHTS_FILE, RunInfo
from ..runtime import Runner, load_runner
from .torch_eager import run_pytorch
from .twin import export_random, twin_info

SCHEMA = "edgemb.bench/1"
PARITY_IMAGES = 8
MODEL_SUFFIXES = (".pt", ".onnx", ".tflite")  # also the order artifacts of a folder are listed in
KINDS = ("conv", "depthwise", "pointwise", "linear", "other")


@dataclass(frozen=True)
class Settings:
    """Defaults in the spirit of TFLite's benchmark_model: one thread, 50 timed runs.
    profile_ops: per-op times too, from runs of their own after the timed ones."""
    threads: int = 1
    runs: int = 50
    warmup: int = 5
    profile_ops: bool = True


def resolve_models(paths: list[Path]) -> list[Path]:
    """MODEL arguments -> model paths: a file as is; a folder -> every .onnx and .tflite
    in it (an export bundle), and the folder itself if it holds model.pt (a run)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise EdgembError(f"{path} does not exist")
        if path.is_file():
            if path.suffix not in MODEL_SUFFIXES:
                raise EdgembError(f"{path}: not a model edgemb can benchmark "
                                  "(expected .tflite, .onnx, .pt, a run directory or an export bundle folder)")
            found.append(path)
            continue
        artifacts = [p for p in path.iterdir() if p.is_file() and p.suffix in (".onnx", ".tflite")]
        artifacts.sort(key=lambda p: (MODEL_SUFFIXES.index(p.suffix), ".int8." in p.name, p.name))
        if (path / WEIGHTS_FILE).is_file():
            artifacts.insert(0, path)
        if not artifacts:
            raise EdgembError(f"{path} holds no model: expected .tflite or .onnx files (an export bundle) "
                              f"or {WEIGHTS_FILE} and {RUN_FILE} (a run directory)")
        found += artifacts
    return list(dict.fromkeys(found))


def open_models(paths: list[Path], threads: int = 1) -> list[Runner]:
    """Open every model on the host: a file that is not a valid model fails here, before any timing."""
    return [load_runner(path, threads) for path in resolve_models(paths)]


def parity_pixels(info: RunInfo, count: int = PARITY_IMAGES) -> np.ndarray:
    """The fixed real inputs every target runs: the first Fashion-MNIST test images,
    through the run's own preprocessing (uint8 N x R x R x 3)."""
    images, _ = load_fashion_mnist("test")
    return preprocess_gray(images[:count], info.preprocessing)


def latency_stats(samples_ms: list[float]) -> dict:
    ms = np.asarray(samples_ms, np.float64)
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "min": float(ms.min()),
            "mean": float(ms.mean()), "std": float(ms.std(ddof=1)) if len(ms) > 1 else 0.0,
            "samples": [round(float(x), 4) for x in ms]}


def label(path: Path) -> str:
    return path.name if path.is_dir() else f"{path.parent.name}/{path.name}"


# Per-op timings -> our layers. Conv and fully connected ops run in the order of the
# network's layers in every runtime, so the last len(layers) such ops compute the
# layers one to one, provided every op can compute its layer (XNNPACK runs a 1x1 conv
# as "Fully Connected ... GEMM"; ONNX's Conv is any conv). Ops before them are the
# input normalization the int8 export builds in (a 1x1 depthwise conv), counted as
# "other". Where ops and layers do not match, the op names alone give the kind, and
# "conv" then includes the pointwise convs.
LINEAR_OP_WORDS = ("fully_connected", "fully connected", "gemm", "matmul", "addmm")
LAYERS_AN_OP_CAN_BE = {"depthwise": {"depthwise"}, "conv": {"conv", "pointwise", "depthwise"},
                       "linear": {"pointwise", "linear"}}


def op_family(op: str) -> str | None:
    """"depthwise", "conv" or "linear" for the ops that carry MACs, None for the rest."""
    name = op.lower()
    if "depthwise" in name or "dwconv" in name:
        return "depthwise"
    if "conv" in name:
        return "conv"
    if name == "linear" or any(word in name for word in LINEAR_OP_WORDS):
        return "linear"
    return None


def assign_layers(ops: list[dict], layers: list[LayerCost]) -> list[LayerCost | None] | None:
    """The layer each op computes (None for ops without MACs), or None if the ops and
    the layers cannot be matched one to one."""
    families = [op_family(op["op"]) for op in ops]
    with_macs = [i for i, family in enumerate(families) if family]
    if len(with_macs) < len(layers):
        return None
    assigned: list[LayerCost | None] = [None] * len(ops)
    for i, layer in zip(with_macs[len(with_macs) - len(layers):], layers):
        if layer.kind not in LAYERS_AN_OP_CAN_BE[families[i]]:
            return None
        assigned[i] = layer
    return assigned


def rollup_ops(ops: list[dict], cost: Profile) -> dict:
    """Per-op timings (ms per inference) rolled up per op type, per layer kind (with
    MACs and achieved GMAC/s) and, where the ops map onto our layers, per layer."""
    assigned = assign_layers(ops, cost.layers)
    if assigned:
        kinds = [layer.kind if layer else "other" for layer in assigned]
    else:
        kinds = [op_family(op["op"]) or "other" for op in ops]
    by_op: dict[str, dict] = {}
    by_kind = {kind: {"ms": 0.0, "macs": 0, "count": 0} for kind in KINDS}
    for op, kind in zip(ops, kinds):
        entry = by_op.setdefault(op["op"], {"op": op["op"], "count": 0, "ms": 0.0})
        entry["count"] += 1
        entry["ms"] += op["ms"]
        by_kind[kind]["count"] += 1
        by_kind[kind]["ms"] += op["ms"]
    if assigned:
        for layer in cost.layers:
            by_kind[layer.kind]["macs"] += layer.macs
    total = sum(op["ms"] for op in ops)
    for entry in by_kind.values():
        entry["share"] = entry["ms"] / total if total else 0.0
        entry["gmacs_per_s"] = gmacs_per_s(entry["macs"], entry["ms"]) if entry["macs"] else None
    layer_rows = None
    if assigned:
        layer_rows = [{"name": layer.name, "kind": layer.kind, "macs": layer.macs, "ms": op["ms"],
                       "op": op["op"], "node": op["node"]}
                      for op, layer in zip(ops, assigned) if layer]
    return {"total_ms": total, "layers_mapped": assigned is not None,
            "by_op": sorted(by_op.values(), key=lambda e: -e["ms"]),
            "by_kind": {kind: entry for kind, entry in by_kind.items() if entry["count"]},
            "layers": layer_rows}


def gmacs_per_s(macs: int, ms: float) -> float | None:
    return macs / (ms * 1e6) if ms > 0 else None


def bench_model(runner: Runner, target, settings: Settings, pixels: np.ndarray) -> dict:
    """Run one model on the target and return its result record."""
    info = runner.info
    inputs = np.concatenate([runner.prepare(p) for p in pixels])
    host = np.concatenate([runner.invoke(x[None]) for x in inputs])
    run = (run_pytorch if runner.format == "pytorch" else target.run)(
        runner.path, inputs, threads=settings.threads, runs=settings.runs, warmup=settings.warmup,
        profile_ops=settings.profile_ops)
    outputs = np.asarray(run["outputs"], np.float32)
    if outputs.shape != host.shape:
        raise RuntimeError(f"{target.name} returned outputs of shape {outputs.shape}, expected {host.shape}")
    cost = profile(info.arch, info.alpha, info.resolution, info.num_classes)
    latency = latency_stats(run["latency_ms"])
    return {
        "model": str(runner.path), "label": label(runner.path), "format": runner.format,
        "precision": runner.precision, "interpreter": run["interpreter"],
        "arch": info.arch, "alpha": info.alpha, "resolution": info.resolution, "num_classes": info.num_classes,
        "input": {"shape": [int(d) for d in runner.input_shape], "dtype": runner.input_dtype.name},
        "latency_ms": latency, "macs": cost.macs, "params": cost.params, "size_bytes": runner.size_bytes,
        "gmacs_per_s": gmacs_per_s(cost.macs, latency["median"]), "peak_rss_bytes": run["peak_rss_bytes"],
        "parity": {"images": len(pixels), "max_abs_diff": float(np.abs(outputs - host).max()),
                   "top1_agreement": float((outputs.argmax(1) == host.argmax(1)).mean())},
        "op_profile": rollup_ops(run["op_profile"], cost) if run["op_profile"] else None,
    }


def align_twin(layers: list[LayerCost], twin_layers: list[LayerCost]) -> list[tuple[list[LayerCost], LayerCost]]:
    """Pair the model's layers with the twin's: each depthwise conv and the pointwise conv
    after it with the one standard conv that replaces them, every other layer with itself."""
    pairs, i = [], 0
    for twin_layer in twin_layers:
        separable = layers[i].kind == "depthwise" and layers[i + 1].kind == "pointwise"
        group = layers[i:i + 2] if separable else layers[i:i + 1]
        pairs.append((group, twin_layer))
        i += len(group)
    assert i == len(layers), "the twin replaces each depthwise + pointwise pair by one conv"
    return pairs


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def layer_times(result: dict) -> dict[str, float]:
    ops = result["op_profile"]
    return {row["name"]: row["ms"] for row in ops["layers"]} if ops and ops["layers"] else {}


def conv_comparison(result: dict, twin: dict) -> dict:
    """The cost formula against measurement: the twin (standard convs) over the separable
    model, for the whole model and per layer type, and per depthwise + pointwise pair
    with the paper's 1/N + 1/Dk² (separable MACs over standard MACs)."""
    ms, twin_ms = layer_times(result), layer_times(twin)
    cost, twin_cost = (profile(r["arch"], r["alpha"], r["resolution"], r["num_classes"]) for r in (result, twin))
    pairs = align_twin(cost.layers, twin_cost.layers)
    separable = [(group, t) for group, t in pairs if len(group) == 2]
    selections = {"separable": separable,
                  "depthwise": [(group[:1], t) for group, t in separable],
                  "pointwise": [(group[1:], t) for group, t in separable],
                  "unchanged": [(group, t) for group, t in pairs if len(group) == 1]}

    def time_of(layers: list[LayerCost], times: dict) -> float | None:
        found = [times.get(layer.name) for layer in layers]
        return None if not found or None in found else sum(found)

    theoretical = {"model": twin["macs"] / result["macs"]}
    measured = {"model": twin["latency_ms"]["median"] / result["latency_ms"]["median"]}
    for key, selected in selections.items():
        ours = [layer for group, _ in selected for layer in group]
        theirs = [t for _, t in selected]
        theoretical[key] = ratio(sum(t.macs for t in theirs), sum(layer.macs for layer in ours))
        measured[key] = ratio(time_of(theirs, twin_ms), time_of(ours, ms))

    layers = []
    for (dw, pw), standard in separable:
        n, k = pw.out_channels, dw.kernel
        layers.append({
            "depthwise": dw.name, "pointwise": pw.name, "standard": standard.name, "kernel": k,
            "in_channels": dw.in_channels, "out_channels": n, "out_size": dw.out_size,
            "depthwise_macs": dw.macs, "pointwise_macs": pw.macs, "standard_macs": standard.macs,
            "formula_ratio": 1 / n + 1 / (k * k),
            "theoretical_mac_ratio": standard.macs / (dw.macs + pw.macs),
            "depthwise_ms": ms.get(dw.name), "pointwise_ms": ms.get(pw.name), "standard_ms": twin_ms.get(standard.name),
            "measured_latency_ratio": ratio(twin_ms.get(standard.name), time_of([dw, pw], ms)),
        })
    return {"twin": twin, "theoretical_mac_ratio": theoretical, "measured_latency_ratio": measured,
            "layers": layers}


def bench_twin(runner: Runner, target, settings: Settings, pixels: np.ndarray, folder: Path) -> dict:
    """Export the standard-conv twin of `runner`'s model in its format and precision and benchmark it."""
    path = export_random(twin_info(runner.info), runner.format, runner.precision, pixels, folder)
    twin = load_runner(path, settings.threads)
    result = bench_model(twin, target, settings, pixels)
    return result | {"model": f"conv twin of {runner.path}", "label": f"{twin.info.arch} twin ({label(runner.path)})"}


def count_steps(runners: list[Runner], compare_conv: bool) -> int:
    return len(runners) * (2 if compare_conv else 1)


def benchmark(runners: list[Runner], target, settings: Settings, compare_conv: bool = False,
              progress: Callable[[str, int], None] = lambda description, done: None) -> dict:
    """The `--json` record. `progress` hears each step's description and the number of
    steps done before it starts (count_steps in all).

    schema, device {name, machine (cpu, cores, arch, how, ...), emulated}, settings,
    results [{model, label, format, precision, interpreter, arch, alpha, resolution,
    num_classes, input, latency_ms {median, p90, min, mean, std, samples}, macs, params,
    size_bytes, gmacs_per_s, peak_rss_bytes, parity {images, max_abs_diff, top1_agreement},
    op_profile {total_ms, layers_mapped, by_op, by_kind, layers} or null, and with
    compare_conv, conv_comparison {twin (a result), theoretical_mac_ratio and
    measured_latency_ratio (each {model, separable, depthwise, pointwise, unchanged}),
    layers (per depthwise + pointwise pair)}}], conv_comparison: the first result's, or null.
    """
    for runner in runners:  # say what cannot work before any work
        if compare_conv:
            twin_info(runner.info)
        if runner.format == "pytorch" and target.machine.get("how") != "native":
            raise EdgembError(f"{runner.path}: PyTorch models run on this machine only; on {target.name} "
                              f"({target.machine.get('how')}) benchmark the exported .tflite or .onnx")
    results, done = [], 0
    for runner in runners:
        progress(f"{label(runner.path)} on {target.name}", done)
        pixels = parity_pixels(runner.info)
        result = bench_model(runner, target, settings, pixels)
        done += 1
        if compare_conv:
            progress(f"standard-conv twin of {label(runner.path)}", done)
            with tempfile.TemporaryDirectory(prefix="edgemb-twin-") as folder:
                twin = bench_twin(runner, target, settings, pixels, Path(folder))
            result["conv_comparison"] = conv_comparison(result, twin)
            done += 1
        results.append(result)
    progress("done", done)
    emulated = bool(target.machine.get("emulated"))
    record = {"schema": SCHEMA, "device": {"name": target.name, "machine": target.machine, "emulated": emulated},
              "settings": asdict(settings), "results": results}
    compared = [r["conv_comparison"] for r in results if "conv_comparison" in r]
    record["conv_comparison"] = compared[0] if compared else None
    return record
