"""The `edgemb` command line. Commands parse arguments, call the library and print."""
import json
import sys
import time
from pathlib import Path

import click

from .bench.arm64 import DEFAULT_CPU
from .bench.targets import DEVICES
from .errors import EdgembError
from .models import ARCHS
from .processes import Interrupted, interruptible
from .train.config import TrainConfig

ALPHA = click.FloatRange(0.05, 4.0, min_open=False)
RESOLUTION = click.IntRange(32, 2048)
NUM_CLASSES = click.IntRange(2, 100_000)
# `edgemb demo`'s defaults, chosen by measurement (benchmarks/results/train_results.md):
# fine-tuning the ImageNet weights for one epoch at 64x64 reached 92.1% in under 4 minutes.
DEMO_RESOLUTION = 64
DEMO_EPOCHS = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-mobilenet")
def cli():
    """edgemb: train, quantize and deploy MobileNet image classifiers to phones and boards."""


@cli.command()
@click.option("--arch", type=click.Choice(ARCHS), default="mobilenet_v2", show_default=True)
@click.option("--alpha", type=ALPHA, default=1.0, show_default=True, help="Width multiplier.")
@click.option("--resolution", type=RESOLUTION, default=224, show_default=True,
              help="Input height and width.")
@click.option("--num-classes", type=NUM_CLASSES, default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def profile(arch, alpha, resolution, num_classes, as_json):
    """Per-layer MACs and parameters, and depthwise separable vs standard conv cost."""
    from .cost import profile as run_profile
    from .report_text import print_profile

    result = run_profile(arch, alpha, resolution, num_classes)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_profile(result)


def parse_formats(ctx, param, value: str) -> tuple[str, ...]:
    from .export.bundle import FORMATS

    formats = tuple(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise click.BadParameter(f"{value!r}: choose from {','.join(FORMATS)}")
    return formats


def parse_ranges(ctx, param, value: str | None) -> str | None:
    from .quantization import RANGE_METHODS

    if value is not None and value not in RANGE_METHODS:
        raise click.BadParameter(f"{value!r}: choose from {', '.join(RANGE_METHODS)}")
    return value


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Bundle folder [default: export/<run name>].")
@click.option("--int8", is_flag=True, help="Also write full-integer quantized models.")
@click.option("--formats", default="onnx,tflite,executorch", show_default=True, callback=parse_formats)
@click.option("--calib-data", help="Calibration images: a folder of photos, a class-folder dataset or "
              "fashion-mnist [default: the run's training data].")
@click.option("--calib-samples", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--calib-ranges", callback=parse_ranges,
              help="How int8 activation ranges are set from the calibration images (.onnx and .tflite): "
              "mse (the clipping with the least error), percentile, or minmax (what the converters do) "
              "[default: the best measured in benchmarks/results/int8_methods.md; report.json records it].")
@click.option("--bias-correction/--no-bias-correction", default=True, show_default=True,
              help="Correct each layer's bias for the mean shift int8 causes (.onnx and .tflite).")
@click.option("--float-layers", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Mixed precision (.onnx and .tflite): leave this many of the layers int8 hurts most in float, "
              "trading speed for accuracy; report.json names them.")
@click.option("--onnx-8bit-weights", is_flag=True,
              help="int8 .onnx weights in 8 bits, not 7: more accurate where ONNX Runtime has int8 dot products "
              "(Arm, x86 with VNNI); on x86 without VNNI its kernels saturate with them.")
@click.option("--val-samples", type=click.IntRange(0, 1_000_000), default=1000, show_default=True,
              help="Validation images to score every artifact on (0: all).")
@click.option("--force", is_flag=True, help="Replace an existing bundle folder.")
@click.option("--android-demo", type=click.Path(path_type=Path),
              help="Also copy the .tflite into this android_demo/ project's assets.")
def export(run_dir, out, int8, formats, calib_data, calib_samples, calib_ranges, bias_correction, float_layers,
           onnx_8bit_weights, val_samples, force, android_demo):
    """Export a run to ONNX, TFLite and ExecuTorch, validated against PyTorch."""
    from .export.bundle import export_bundle
    from .quantization import DEFAULT_RANGES
    from .export.report import report_markdown

    int8_options = {"--calib-ranges": calib_ranges, "--no-bias-correction": not bias_correction,
                    "--float-layers": float_layers, "--onnx-8bit-weights": onnx_8bit_weights}
    given = [name for name, value in int8_options.items() if value]
    if given and not int8:
        raise click.UsageError(f"{', '.join(given)} only shape int8 files: add --int8")
    out = out or Path("export") / Path(run_dir).resolve().name
    try:
        with interruptible():
            report = export_bundle(run_dir, out, formats=formats, int8=int8, calib_data=calib_data,
                                   calib_samples=calib_samples, calib_ranges=calib_ranges or DEFAULT_RANGES,
                                   bias_correction=bias_correction, float_layers=float_layers,
                                   onnx_reduce_range=not onnx_8bit_weights,
                                   val_samples=val_samples, force=force,
                                   android_demo=android_demo, log=lambda line: click.echo(f"  {line}", err=True))
    except Interrupted:
        click.echo("interrupted: nothing was written", err=True)
        raise
    click.echo(report_markdown(report))
    click.echo(f"Bundle written to {out}/")


@cli.command("setup-arm64")
@click.option("--force", is_flag=True, help="Provision again from scratch.")
def setup_arm64(force):
    """Provision the emulated ARM64 machine (QEMU user mode) that --device arm64 uses on x86.

    An aarch64 Python with numpy, LiteRT and ONNX Runtime, in $EDGEMB_CACHE/arm64
    (default ~/.cache/edgemb/arm64). Done once; later calls return at once."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from .bench.arm64 import provision

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("ARM64 environment", total=None)
        env = provision(progress=lambda done, total, step: bar.update(task, completed=done, total=total,
                                                                      description=step), force=force)
    versions = ", ".join(f"{name} {version}" for name, version in env.versions.items())
    click.echo(f"ARM64 environment ready in {env.root} ({versions})")


def data_argument(value: str) -> str:
    """--data as recorded: "fashion-mnist", or a folder's absolute path (so --resume works from anywhere)."""
    return value if value == "fashion-mnist" else str(Path(value).resolve())


def starting_run_options(ctx, pretrained: str) -> dict:
    """--qat fine-tunes RUN as it is: the options RUN was trained with that fix the network,
    the data split and the training images and their augmentation, where the command line
    does not give them."""
    from click.core import ParameterSource

    from .run import RUN_FILE, read_run_info

    folder = Path(pretrained) if Path(pretrained).is_dir() else Path(pretrained).parent
    if not (folder / RUN_FILE).is_file():
        return {}
    info = read_run_info(folder)
    recorded = {"data": info.dataset.get("path", info.dataset["kind"]), "arch": info.arch, "alpha": info.alpha,
                "resolution": info.resolution, "val_fraction": info.dataset.get("val_fraction"),
                "seed": info.dataset.get("seed")}
    training = info.extra.get("training") or {}
    recorded |= {k: training.get(k) for k in ("train_subset", "min_crop_scale", "label_smoothing", "batch_size")}
    return {k: v for k, v in recorded.items()
            if v is not None and ctx.get_parameter_source(k) is not ParameterSource.COMMANDLINE}


@cli.command()
@click.option("--data", default="fashion-mnist", show_default=True,
              help="fashion-mnist, or a folder with one subfolder of images per class (or train/ and val/).")
@click.option("--arch", type=click.Choice(ARCHS), default=TrainConfig.arch, show_default=True)
@click.option("--alpha", type=ALPHA, default=TrainConfig.alpha, show_default=True, help="Width multiplier.")
@click.option("--resolution", type=RESOLUTION, default=TrainConfig.resolution, show_default=True,
              help="Input height and width.")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=TrainConfig.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(2, 65_536), default=TrainConfig.batch_size, show_default=True,
              help="Images per step, split across torchrun processes.")
@click.option("--lr", type=click.FloatRange(0, 10, min_open=True), default=TrainConfig.lr, show_default=True,
              help="Peak learning rate (SGD, Nesterov momentum 0.9).")
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default=TrainConfig.schedule,
              show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0, 1), default=TrainConfig.weight_decay, show_default=True)
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=TrainConfig.label_smoothing,
              show_default=True)
@click.option("--min-crop-scale", type=click.FloatRange(0.05, 1), default=TrainConfig.min_crop_scale,
              show_default=True,
              help="Smallest random crop, as a fraction of the image area.")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9, min_open=True), default=TrainConfig.val_fraction,
              show_default=True,
              help="Held out for validation from a folder without val/.")
@click.option("--train-subset", type=click.IntRange(1), help="Train on a seeded random subset of this many images.")
@click.option("--pretrained", help="imagenet, or a run directory or checkpoint to start from "
              "(its classifier is replaced when the classes differ).")
@click.option("--freeze-backbone", is_flag=True, help="Train the classifier only.")
@click.option("--qat", is_flag=True,
              help="Quantization-aware fine-tuning of --pretrained RUN: trains RUN's BatchNorm-folded network "
              "through the int8 scheme of `edgemb export --int8` and writes an ordinary run that exports "
              "through it. RUN's data, arch, alpha, resolution, split, seed, training subset, batch size and "
              "augmentation are the defaults. "
              "Use a small --lr (benchmarks/results/qat.md used 0.002) "
              "and an epoch or two.")
@click.option("--seed", type=int, default=TrainConfig.seed, show_default=True)
@click.option("--workers", type=click.IntRange(0, 256),
              help="Processes decoding and augmenting images while the step runs (0: in the training "
              "process) [default: one per two cores, at most 8].")
@click.option("--cache", is_flag=True, default=None,
              help="Keep a folder's decoded images on disk ($EDGEMB_CACHE/images, default ~/.cache/edgemb) "
              "and reuse them in later runs over the same, unchanged files.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The run directory to write.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.pass_context
def train(ctx, out, resume, **options):
    """Train a MobileNet; under `torchrun --nproc_per_node N --no-python edgemb train ...` with N processes."""
    from click.core import ParameterSource

    from .train import saved_config, train as run_training
    from .train.console import ConsoleReporter

    options["data"] = data_argument(options["data"])
    if options["pretrained"] and options["pretrained"] != "imagenet":
        options["pretrained"] = str(Path(options["pretrained"]).resolve())
        if options["qat"] and not resume:
            options |= starting_run_options(ctx, options["pretrained"])
    if resume:
        given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) is ParameterSource.COMMANDLINE}
        config = saved_config(out).resumed_with(given)
    else:
        config = TrainConfig(**{k: v for k, v in options.items() if v is not None})
    if config.conflict():
        raise click.UsageError(config.conflict())
    run_training(config, out, ConsoleReporter(), resume=resume)


@cli.command("eval")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--data", help="fashion-mnist or a class-folder dataset [default: the run's own].")
@click.option("--split", type=click.Choice(["val", "test"]), default="val", show_default=True,
              help="val: the images that picked the checkpoint; test: images no step of training saw "
              "(Fashion-MNIST's 10k test set, a folder's test/).")
@click.option("--threads", type=click.IntRange(1, 256), help="Inference threads [default: all cores].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def eval_command(model, data, split, threads, as_json):
    """Top-1 and top-5 of a run directory, checkpoint, .onnx or .tflite on a split of its data."""
    import os

    from .runtime import load_runner
    from .train.console import percent, track_progress, warn_skipped
    from .runtime.classify import split_accuracy

    runner = load_runner(model, threads or os.cpu_count() or 1)
    runner.require_info("class names and dataset")
    result = split_accuracy(runner, data and data_argument(data), split, track_progress)
    warn_skipped(result["skipped_files"])
    if as_json:
        click.echo(json.dumps({"model": str(model), "format": runner.format, "precision": runner.precision,
                               **result}, indent=2))
    else:
        source = result["dataset"].get("path", result["dataset"]["kind"])
        click.echo(f"{model}: top-1 {percent(result['top1'])}, top-5 {percent(result['top5'])} "
                   f"on {result['images']} {'validation' if split == 'val' else 'test'} images of {source}")


@cli.command()
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top-k", type=click.IntRange(1, 100_000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
def predict(model, images, top_k, as_json):
    """Class names with probabilities for each image, most likely first."""
    from .runtime import load_runner
    from .runtime.classify import predict_files

    runner = load_runner(model)
    runner.require_info("class names and preprocessing")
    results = predict_files(runner, list(images), top_k)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for result in results:
        click.echo(result["image"])
        for p in result["predictions"]:
            click.echo(f"  {p['probability']:7.2%}  {p['class']}")


@cli.command("preprocess")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for one NAME.png per image.")
def preprocess_command(run_dir, images, out):
    """Write exactly the pixels the model sees for each image (the run's resize and crop), as PNG,
    to compare with what an app feeds its model."""
    import io

    from PIL import Image

    from .data.images import BadImage, read_image
    from .data.preprocess import preprocess
    from .io import write_bytes_atomic
    from .run import read_run_info

    pre = read_run_info(run_dir).preprocessing
    names = [path.stem + ".png" for path in images]
    if len(set(names)) != len(names):
        raise EdgembError("two images have the same name; their PNGs would overwrite each other")
    for path, name in zip(images, names):
        try:
            pixels = preprocess(read_image(path), pre)
        except BadImage as e:
            raise EdgembError(f"cannot read {path} as a JPEG/PNG/BMP/WebP image ({e})") from None
        png = io.BytesIO()
        Image.fromarray(pixels).save(png, format="PNG")
        write_bytes_atomic(out / name, png.getvalue())
        click.echo(f"{out / name}: {pre.crop}x{pre.crop} ({pre.interpolation}, shorter side {pre.resize})")


@cli.command()
@click.argument("name", type=click.Choice(["mobilenet_v2"]))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The run directory to write.")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def pretrained(name, out, force):
    """A ready run directory with ImageNet weights and the 1000 class names (no training)."""
    from .pretrained import write_pretrained_run

    info = write_pretrained_run(name, out, force)
    click.echo(f"{name} with ImageNet weights ({info.num_classes} classes, {info.resolution}x{info.resolution}) "
               f"written to {out}/")


def parse_threads(ctx, param, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(dict.fromkeys(int(v) for v in value.split(",") if v.strip()))
    except ValueError:
        counts = ()
    if not counts or not all(1 <= n <= 256 for n in counts):
        raise click.BadParameter(f"{value!r}: a thread count from 1 to 256, or several separated by commas")
    return counts


@cli.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="MODEL...")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="arm64: natively on an ARM64 host, over SSH with --host, else emulated with QEMU.")
@click.option("--host", help="user@machine[:port]: run on that machine over SSH.")
@click.option("--cpu", default=DEFAULT_CPU, show_default=True,
              help="The CPU QEMU emulates for --device arm64 (neoverse-n1, or cortex-a72: no dot product).")
@click.option("--threads", default="1", show_default=True, callback=parse_threads,
              help="Threads, or a comma-separated sweep such as 1,2,4 (the first is the headline figure).")
@click.option("--runs", type=click.IntRange(1, 1_000_000), default=50, show_default=True, help="Timed runs.")
@click.option("--warmup", type=click.IntRange(0, 1_000_000), default=5, show_default=True,
              help="Untimed runs first.")
@click.option("--timeout", type=click.FloatRange(1, min_open=False), default=900, show_default=True,
              help="Seconds one model may take on the target.")
@click.option("--compare-conv", is_flag=True,
              help="Also run each model's standard-conv twin: the cost formula against measurement.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write everything as JSON to this file.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a self-contained HTML page (tables and plots) to this file.")
def bench(models, device, host, cpu, threads, runs, warmup, timeout, compare_conv, json_file, report):
    """Latency, MACs, memory, per-op time and parity of MODELs (.tflite, .onnx, a run directory
    or .pt, or an export bundle folder: all its models) on a CPU or an ARM64 target. Any
    .tflite or .onnx works; without edgemb.json beside it, MACs come from its graph."""
    from .bench.harness import Settings, benchmark
    from .bench.models import open_models
    from .bench.report import print_bench, progress_bar
    from .bench.targets import get_target
    from .io import write_json_atomic, write_text_atomic

    runners = open_models(models, threads[0])
    with progress_bar() as bar:
        task = bar.add_task("target", total=None)

        def progress(done, total, description):
            bar.update(task, completed=done, total=total, description=description)

        target = get_target(device, host, cpu, timeout, progress=progress)
        record = benchmark(runners, target, Settings(threads, runs, warmup), compare_conv, progress=progress)
    if json_file:
        write_json_atomic(json_file, record)
    if report:
        from .bench.report import html_page
        write_text_atomic(report, html_page(record))
    print_bench(record)
    for path, what in ((json_file, "JSON"), (report, "HTML report")):
        if path:
            click.echo(f"{what} written to {path}")


@cli.command()
@click.option("--arch", type=click.Choice(["mobilenet_v1", "mobilenet_v2"]), default="mobilenet_v2",
              show_default=True)
@click.option("--alpha", type=ALPHA, default=1.0, show_default=True, help="Width multiplier.")
@click.option("--resolution", type=RESOLUTION, default=DEMO_RESOLUTION, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 1000), default=DEMO_EPOCHS, show_default=True)
@click.option("--train-subset", type=click.IntRange(100, 60_000),
              help="Train on this many of the 60k Fashion-MNIST images [default: all].")
@click.option("--pretrained/--scratch", default=True, show_default=True,
              help="Fine-tune from the ImageNet weights (mobilenet_v2 at alpha 1.0 only).")
@click.option("--name", default="demo", show_default=True, help="Writes runs/NAME and export/NAME.")
@click.option("--arm64/--no-arm64", default=True, show_default=True, help="Also benchmark on emulated ARM64.")
@click.option("--android-demo", type=click.Path(path_type=Path), default=Path("android_demo"), show_default=True,
              help="Copy the int8 .tflite into this app project (skipped when the folder is absent).")
def demo(arch, alpha, resolution, epochs, train_subset, pretrained, name, arm64, android_demo):
    """Train, export, check and benchmark a MobileNet on Fashion-MNIST; one HTML report at the end."""
    from .demo import DemoPlan, run_demo

    if pretrained and (arch != "mobilenet_v2" or alpha != 1.0):
        raise click.BadParameter("ImageNet weights exist for mobilenet_v2 at alpha 1.0 only: "
                                 "pass --scratch to train another arch or width", param_hint="'--pretrained'")
    plan = DemoPlan(arch, alpha, resolution, epochs, train_subset, pretrained, Path("runs") / name,
                    Path("export") / name, arm64, android_demo if (android_demo / "app").is_dir() else None)
    start = time.perf_counter()
    report = run_demo(plan, log=lambda line: click.secho(line, bold=True, err=True))
    click.echo(f"\nDemo finished in {(time.perf_counter() - start) / 60:.1f} min. Where things are:")
    click.echo(f"  report (open in a browser)  {report}")
    click.echo(f"  training run                {plan.run_dir}/  (model.pt, history.json, curves.png)")
    click.echo(f"  export bundle               {plan.bundle}/  (model*.onnx, model*.tflite, report.md)")
    click.echo(f"  benchmarks                  {plan.bundle}/bench-*.html and bench-*.json")
    if plan.android_demo:
        click.echo(f"  Android app model           {plan.android_demo}/app/src/main/assets/model.tflite "
                   "(int8; see android_demo/README.md)")


def main():
    """Entry point: user mistakes become one `Error:` line and a non-zero exit code."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except Interrupted as e:  # SIGINT/SIGTERM inside interruptible(): the command said what happened
        code = e.exit_code
    except click.ClickException as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        code = e.exit_code
    except OSError as e:  # disk full, permissions...: the user's machine, not our bug
        click.echo(f"Error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
