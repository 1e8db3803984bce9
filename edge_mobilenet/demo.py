"""`edgemb demo`: the whole toolchain on built-in data, ending in one HTML report.

Each stage is one of our own commands in a process of its own (TensorFlow and
torch's exporter must not share a process, and each stage shows its own
progress), then the report is put together from what the stages wrote.
"""
import html
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .bench.report import bench_sections, png
from .errors import EdgembError
from .export.report import artifact_table, layered, worst_layers_line
from .io import write_text_atomic
from .processes import dies_with_parent
from .report_html import html_document, html_image, html_table
from .train.run_files import CURVES_FILE, HISTORY_FILE

REPORT_FILE = "demo-report.html"
TEST_FILE = "test.json"  # the run's score on the test split, beside its edgemb.json


@dataclass
class DemoPlan:
    arch: str
    alpha: float
    resolution: int
    epochs: int
    train_subset: int | None
    pretrained: bool
    run_dir: Path
    bundle: Path
    arm64: bool
    android_demo: Path | None

    def stages(self) -> list[tuple[str, list[str]]]:
        """(title, edgemb arguments) of each stage, in order. A stage whose arguments end in
        --json writes its stdout to the run directory's test.json."""
        train = ["train", "--data", "fashion-mnist", "--arch", self.arch, "--alpha", str(self.alpha),
                 "--resolution", str(self.resolution), "--epochs", str(self.epochs), "--out", str(self.run_dir)]
        if self.train_subset:
            train += ["--train-subset", str(self.train_subset)]
        if self.pretrained:  # the settings measured in benchmarks/results/train_results.md
            train += ["--pretrained", "imagenet", "--lr", "0.02", "--min-crop-scale", "0.8"]
        if (self.run_dir / "last.pt").is_file():
            train.append("--resume")  # a demo that was stopped goes on where it was
        export = ["export", str(self.run_dir), "--int8", "--out", str(self.bundle), "--force"]
        if self.android_demo:
            export += ["--android-demo", str(self.android_demo)]
        cpu = ["bench", str(self.bundle), str(self.run_dir), "--compare-conv", "--runs", "30",
               "--json", str(self.bundle / "bench-cpu.json"), "--report", str(self.bundle / "bench-cpu.html")]
        test = ["eval", str(self.run_dir), "--split", "test", "--json"]
        stages = [("Train on Fashion-MNIST", train), ("Score the best checkpoint on the 10k test images", test),
                  ("Export fp32 + int8, ONNX + TFLite + ExecuTorch", export),
                  ("Benchmark on this CPU, with the standard-conv twins", cpu)]
        if self.arm64:
            stages.append(("Benchmark on emulated ARM64 (QEMU, Neoverse-N1)", [
                "bench", str(self.bundle / "model.int8.tflite"), str(self.bundle / "model.tflite"),
                "--device", "arm64", "--compare-conv", "--runs", "3", "--warmup", "1",
                "--json", str(self.bundle / "bench-arm64.json"), "--report", str(self.bundle / "bench-arm64.html")]))
        return stages


def run_stage(number: int, total: int, title: str, args: list[str], log) -> float:
    log(f"[{number}/{total}] {title}: edgemb {' '.join(args)}")
    start = time.perf_counter()
    # SIGTERM when the demo dies: the stage stops as an interrupted command does, saying so.
    as_json = args[-1] == "--json"
    result = subprocess.run([sys.executable, "-m", "edge_mobilenet.cli", *args], text=True,
                            stdout=subprocess.PIPE if as_json else None, preexec_fn=dies_with_parent(signal.SIGTERM))
    if result.returncode != 0:
        raise EdgembError(f"the demo stopped at step {number} ({title}); the lines above say why")
    if as_json:
        write_text_atomic(Path(args[1]) / TEST_FILE, result.stdout)
    seconds = time.perf_counter() - start
    log(f"[{number}/{total}] done in {seconds:.0f} s")
    return seconds


def run_demo(plan: DemoPlan, log=print) -> Path:
    """Run every stage and write the report; returns its path."""
    stages = plan.stages()
    timings = {title: run_stage(i, len(stages), title, args, log) for i, (title, args) in enumerate(stages, 1)}
    report = plan.bundle / REPORT_FILE
    write_text_atomic(report, demo_html(plan, timings))
    return report


def layer_sqnr_plot(export: dict) -> bytes:
    """A line per int8 artifact: SQNR vs fp32 over the quantized tensors in execution order,
    its worst layers (largest own drop) marked."""
    from matplotlib import pyplot as plt  # bench.report chose the Agg backend

    artifacts = layered(export)
    figure, ax = plt.subplots(figsize=(11, 3.8))
    for name, layers in artifacts.items():
        sqnr = [layer["sqnr_db"] for layer in layers]
        line, = ax.plot(sqnr, marker=".", label=name)
        worst = export["artifacts"][name]["worst_layers"]
        index = [i for i, layer in enumerate(layers) if layer["name"] in worst]
        ax.scatter(index, [sqnr[i] for i in index], s=70, facecolors="none", edgecolors=line.get_color())
    names = [layer["name"] for layer in next(iter(artifacts.values()))]  # every int8 model has the same points
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("SQNR vs fp32, dB")
    ax.grid(alpha=0.3)
    ax.legend(title="circled: largest drops", fontsize=8, title_fontsize=8)
    return png(figure)


def demo_html(plan: DemoPlan, timings: dict[str, float]) -> str:
    run_info = json.loads((plan.run_dir / "edgemb.json").read_text())
    history = json.loads((plan.run_dir / HISTORY_FILE).read_text())
    export = json.loads((plan.bundle / "report.json").read_text())
    parts = ["<h1>edgemb demo</h1>",
             f'<p class="meta">{html.escape(plan.arch)} alpha={plan.alpha:g} at {plan.resolution}x{plan.resolution}, '
             f"Fashion-MNIST ({'fine-tuned from ImageNet weights' if plan.pretrained else 'from scratch'}), "
             f"{plan.epochs} epoch(s){f' on {plan.train_subset} images' if plan.train_subset else ''}. "
             f"Stages: {', '.join(f'{t.lower()} {s:.0f} s' for t, s in timings.items())}.</p>"]

    best = run_info["best"]
    test = json.loads((plan.run_dir / TEST_FILE).read_text())
    parts += ["<h2>Training</h2>",
              f'<p>Best validation top-1 {100 * best["val_top1"]:.2f}% (epoch {best["epoch"]}) on '
              f'{run_info["data"]["val_images"]:,} images held out of the training split, which picked the '
              f'checkpoint; <b>test top-1 {100 * test["top1"]:.2f}%</b> on the {test["images"]:,} Fashion-MNIST '
              "test images, which took no part in training or choosing.</p>",
              html_table(["epoch", "train loss", "train top-1", "val loss", "val top-1", "images/s"],
                         [[str(h["epoch"]), f'{h["train_loss"]:.3f}', f'{100 * h["train_top1"]:.2f}%',
                           f'{h["val_loss"]:.3f}', f'{100 * h["val_top1"]:.2f}%',
                           f'{h["images_per_second"]:.0f}'] for h in history]),
              html_image((plan.run_dir / CURVES_FILE).read_bytes(), "training curves")]

    headline = "; ".join(f'{fmt} int8: top-1 {-h["top1_drop_points"]:+.2f} points vs fp32, '
                         f'{100 * h["size_ratio"]:.0f}% of the fp32 size' for fmt, h in export["headline"].items())
    parts += ["<h2>Export: fp32 vs int8</h2>",
              f'<p>{html.escape(headline)}. Scored on {export["validation_images"]} validation images '
              "(held out of training).</p>",
              html_table(*artifact_table(export))]
    if layered(export):
        measured = {name: m for name, m in export["artifacts"].items() if "layers" in m}
        worst = "; ".join(f"{name}: {worst_layers_line(m)}" for name, m in measured.items())
        images = min(m["layer_images"] for m in measured.values())
        parts += ["<h2>Export: int8 error per layer</h2>",
                  "<p>The SQNR of each quantized tensor of the int8 model against the fp32 network's same tensor, "
                  f"both run end to end on {images} validation images: where a line falls most steeply is where "
                  f"int8 loses its accuracy. {html.escape(worst)}.</p>",
                  html_image(layer_sqnr_plot(export), "per-layer SQNR of each int8 model")]

    for name, title in (("bench-cpu.json", "Benchmark: this CPU"), ("bench-arm64.json", "Benchmark: ARM64")):
        path = plan.bundle / name
        if path.is_file():
            parts += [f"<h2>{title}</h2>", *bench_sections(json.loads(path.read_text()))]
    return html_document("edgemb demo", parts)
