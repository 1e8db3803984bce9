"""MobileNet vs Conv MobileNet: the depthwise separable cost formula against measured latency.

    .venv/bin/python benchmarks/bench_conv.py [--archs mobilenet_v1,mobilenet_v2] [--alpha 1.0]
        [--resolution 224] [--rounds 3] [--runs 20]

Each arch and its standard-conv twin (`conv_`: every depthwise + pointwise pair becomes
one standard conv) are built with random weights (latency does not depend on them),
kept as PyTorch and exported to ONNX and TFLite, fp32 and int8, by the export module's
converters. `edgemb bench`'s harness times all of them on this CPU with one thread, in
interleaved rounds, with per-op profiles. Reported per runtime, as medians over rounds:
the theoretical MAC ratio and the measured latency ratio (twin / separable) of the
whole model and per layer type, and the achieved GMAC/s of each layer kind.
Results: benchmarks/results/bench_conv.{md,json}.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.rounds import bench_rounds, machine_line, median_latency, write_results  # noqa: E402
from edge_mobilenet.bench.conv_compare import conv_comparison  # noqa: E402
from edge_mobilenet.bench.harness import Settings, parity_pixels  # noqa: E402
from edge_mobilenet.bench.models import open_models  # noqa: E402
from edge_mobilenet.bench.report import KIND_NAMES  # noqa: E402
from edge_mobilenet.bench.targets import get_target  # noqa: E402
from edge_mobilenet.bench.twin import export_random, twin_info  # noqa: E402
from edge_mobilenet.data.preprocess import Preprocessing  # noqa: E402
from edge_mobilenet.run import RunInfo  # noqa: E402

LAYER_TYPES = ["model", "separable", "depthwise", "pointwise", "unchanged"]


def export_pair(info: RunInfo, folder: Path) -> list:
    """The separable model and its twin as PyTorch, ONNX and TFLite (fp32 + int8): runners, twins last."""
    pixels = parity_pixels(info.preprocessing)
    for name, which in (("separable", info), ("twin", twin_info(info))):
        print(f"exporting {which.arch} {which.alpha:g}-{which.resolution}", flush=True)
        for fmt in ("pytorch", "onnx", "tflite"):
            export_random(which, fmt, "int8", pixels, folder / name)  # int8 leaves the fp32 model too
    return open_models([folder / "separable", folder / "twin"])


def median_or_none(values: list) -> float | None:
    return None if not values or None in values else statistics.median(values)


def compare(records: list[dict], index: int, twin_index: int) -> dict:
    """One runtime's comparison, each figure the median over rounds."""
    comparisons = [conv_comparison(r["results"][index], r["results"][twin_index]) for r in records]
    first = records[0]["results"][index]
    gmacs = {}
    for who, i in (("separable", index), ("twin", twin_index)):
        kinds = records[0]["results"][i]["op_profile"]["by_kind"]
        gmacs[who] = {kind: median_or_none([r["results"][i]["op_profile"]["by_kind"][kind]["gmacs_per_s"]
                                            for r in records]) for kind in kinds if kinds[kind]["macs"]}
    return {"format": first["format"], "precision": first["precision"], "interpreter": first["interpreter"],
            "theoretical_mac_ratio": comparisons[0]["theoretical_mac_ratio"],
            "measured_latency_ratio": {key: median_or_none([c["measured_latency_ratio"][key] for c in comparisons])
                                       for key in LAYER_TYPES},
            "latency_ms": {"separable": median_latency(records, index), "twin": median_latency(records, twin_index)},
            "gmacs_per_s": gmacs, "layers_mapped": all(r["results"][i]["op_profile"]["layers_mapped"]
                                                       for r in records for i in (index, twin_index))}


def ratio(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def markdown(record: dict) -> str:
    s = record["settings"]
    lines = ["# MobileNet vs Conv MobileNet: the cost formula against measurement", "",
             f"Machine: {record['machine']}. {s['threads']} thread, {s['runs']} timed runs after {s['warmup']} "
             f"warm-up runs per model and round, {record['rounds']} interleaved rounds; every figure is the median "
             "over rounds. Ratios are the standard-conv twin over the depthwise separable model: "
             "MACs (theory) and latency (measured). Random weights; 1000 classes.", ""]
    for arch, a in record["archs"].items():
        t = a["runtimes"][0]["theoretical_mac_ratio"]
        lines += [f"## {arch} {a['alpha']:g}-{a['resolution']} vs {a['twin_arch']}", "",
                  f"Theory (MACs, twin / separable): whole model {ratio(t['model'])}; depthwise + pointwise "
                  f"pairs {ratio(t['separable'])} (the paper's 1/(1/N + 1/Dk²), MAC-weighted); depthwise part "
                  f"alone {ratio(t['depthwise'])}, pointwise part alone {ratio(t['pointwise'])}.", "",
                  "| runtime | whole model | DW + PW pairs | DW alone | PW alone | shared layers |",
                  "|---|---|---|---|---|---|",
                  f"| theory (MACs) | {' | '.join(ratio(t[key]) for key in LAYER_TYPES)} |"]
        for r in a["runtimes"]:
            m = r["measured_latency_ratio"]
            lines.append(f"| {r['format']} {r['precision']} ({r['interpreter']}) | "
                         f"{' | '.join(ratio(m[key]) for key in LAYER_TYPES)} |")
        kinds = ["conv", "depthwise", "pointwise"]
        lines += ["", "Achieved GMAC/s per layer kind (MACs / measured time): depthwise convs are memory-bound.", "",
                  "| runtime | " + " | ".join(KIND_NAMES[k] for k in kinds) + " | twin: standard conv | "
                  "twin: pointwise |", "|---|---|---|---|---|---|"]
        for r in a["runtimes"]:
            g, tg = r["gmacs_per_s"]["separable"], r["gmacs_per_s"]["twin"]
            cells = [g.get(k) for k in kinds] + [tg.get("conv"), tg.get("pointwise")]
            lines.append(f"| {r['format']} {r['precision']} | "
                         + " | ".join("–" if c is None else f"{c:.1f}" for c in cells) + " |")
        lines += ["", "Latency medians (ms, for the ratios only; shared, noisy machine): "
                  + "; ".join(f"{r['format']} {r['precision']} {r['latency_ms']['separable']:.2f} vs twin "
                              f"{r['latency_ms']['twin']:.2f}" for r in a["runtimes"]), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="mobilenet_v1,mobilenet_v2")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()

    target, settings = get_target("cpu"), Settings(threads=1, runs=args.runs, warmup=args.warmup)
    classes = [f"class {i}" for i in range(1000)]
    record = {"settings": vars(args) | {"threads": 1}, "rounds": args.rounds, "archs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-conv-") as tmp:
        for arch in args.archs.split(","):
            info = RunInfo(arch, args.alpha, args.resolution, classes, Preprocessing.for_resolution(args.resolution))
            runners = export_pair(info, Path(tmp) / arch)
            records = bench_rounds(runners, target, settings, args.rounds)
            half = len(runners) // 2
            record["machine"] = machine_line(records[0])
            record["device"] = records[0]["device"]
            record["archs"][arch] = {"alpha": args.alpha, "resolution": args.resolution,
                                     "twin_arch": twin_info(info).arch,
                                     "runtimes": [compare(records, i, half + i) for i in range(half)]}
    write_results("bench_conv", record, markdown(record))


if __name__ == "__main__":
    main()
