"""The `edgemb` command line. Commands parse arguments, call the library and print."""
import json
import sys
from pathlib import Path

import click

from .errors import EdgembError
from .models import ARCHS

ALPHA = click.FloatRange(0.05, 4.0, min_open=False)
RESOLUTION = click.IntRange(32, 2048)
NUM_CLASSES = click.IntRange(2, 100_000)


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


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Bundle folder [default: export/<run name>].")
@click.option("--int8", is_flag=True, help="Also write full-integer quantized models.")
@click.option("--formats", default="onnx,tflite", show_default=True, callback=parse_formats)
@click.option("--calib-data", help="Calibration images: a folder of photos, a class-folder dataset or "
              "fashion-mnist [default: the run's training data].")
@click.option("--calib-samples", type=click.IntRange(1, 100_000), default=300, show_default=True)
@click.option("--val-samples", type=click.IntRange(0, 1_000_000), default=1000, show_default=True,
              help="Validation images to score every artifact on (0: all).")
@click.option("--force", is_flag=True, help="Replace an existing bundle folder.")
@click.option("--android-demo", type=click.Path(path_type=Path),
              help="Also copy the .tflite into this android_demo/ project's assets.")
def export(run_dir, out, int8, formats, calib_data, calib_samples, val_samples, force, android_demo):
    """Export a run to ONNX and TFLite, validated against PyTorch."""
    from .export.bundle import export_bundle
    from .export.report import report_markdown

    out = out or Path("export") / Path(run_dir).resolve().name
    report = export_bundle(run_dir, out, formats=formats, int8=int8, calib_data=calib_data,
                           calib_samples=calib_samples, val_samples=val_samples, force=force,
                           android_demo=android_demo, log=lambda line: click.echo(f"  {line}", err=True))
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


@cli.command()
@click.option("--data", default="fashion-mnist", show_default=True,
              help="fashion-mnist, or a folder with one subfolder of images per class (or train/ and val/).")
@click.option("--arch", type=click.Choice(ARCHS), default="mobilenet_v2", show_default=True)
@click.option("--alpha", type=ALPHA, default=1.0, show_default=True, help="Width multiplier.")
@click.option("--resolution", type=RESOLUTION, default=224, show_default=True, help="Input height and width.")
@click.option("--epochs", type=click.IntRange(1, 10_000), default=10, show_default=True)
@click.option("--batch-size", type=click.IntRange(2, 65_536), default=64, show_default=True,
              help="Images per step, split across torchrun processes.")
@click.option("--lr", type=click.FloatRange(0, 10, min_open=True), default=0.05, show_default=True,
              help="Peak learning rate (SGD, Nesterov momentum 0.9).")
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine", show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0, 1), default=4e-5, show_default=True)
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True)
@click.option("--min-crop-scale", type=click.FloatRange(0.05, 1), default=0.25, show_default=True,
              help="Smallest random crop, as a fraction of the image area.")
@click.option("--val-fraction", type=click.FloatRange(0, 0.9, min_open=True), default=0.1, show_default=True,
              help="Held out for validation from a folder without val/.")
@click.option("--train-subset", type=click.IntRange(1), help="Train on a seeded random subset of this many images.")
@click.option("--pretrained", help="imagenet, or a run directory or checkpoint to start from "
              "(its classifier is replaced when the classes differ).")
@click.option("--freeze-backbone", is_flag=True, help="Train the classifier only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), help="Threads decoding images [default: cores, at most 8].")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The run directory to write.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.pass_context
def train(ctx, out, resume, **options):
    """Train a MobileNet; under `torchrun --nproc_per_node N --no-python edgemb train ...` with N processes."""
    from click.core import ParameterSource

    from .train import TrainConfig, saved_config, train as run_training
    from .train.console import ConsoleReporter

    options["data"] = data_argument(options["data"])
    if options["pretrained"] and options["pretrained"] != "imagenet":
        options["pretrained"] = str(Path(options["pretrained"]).resolve())
    if resume:
        given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) is ParameterSource.COMMANDLINE}
        config = saved_config(out).resumed_with(given)
    else:
        config = TrainConfig(**{k: v for k, v in options.items() if v is not None})
    run_training(config, out, ConsoleReporter(), resume=resume)


@cli.command("eval")
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option("--data", help="fashion-mnist or a class-folder dataset [default: the run's own].")
@click.option("--threads", type=click.IntRange(1, 256), help="Inference threads [default: all cores].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def evaluate(model, data, threads, as_json):
    """Top-1 and top-5 of a run directory, checkpoint, .onnx or .tflite on a validation split
    (Fashion-MNIST: its 10k test set)."""
    import os

    from .runtime import load_runner
    from .train.console import percent, track_progress, warn_skipped
    from .train.evaluate import evaluate_on

    runner = load_runner(model, threads or os.cpu_count() or 1)
    result = evaluate_on(runner, data and data_argument(data), track_progress)
    warn_skipped(result["skipped_files"])
    if as_json:
        click.echo(json.dumps({"model": str(model), "format": runner.format, "precision": runner.precision,
                               **result}, indent=2))
    else:
        source = result["dataset"].get("path", result["dataset"]["kind"])
        click.echo(f"{model}: top-1 {percent(result['top1'])}, top-5 {percent(result['top5'])} "
                   f"on {result['images']} validation images of {source}")


@cli.command()
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top-k", type=click.IntRange(1, 100_000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON list on stdout.")
def predict(model, images, top_k, as_json):
    """Class names with probabilities for each image, most likely first."""
    from .runtime import load_runner
    from .train.evaluate import predict_files

    results = predict_files(load_runner(model), list(images), top_k)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for result in results:
        click.echo(result["image"])
        for p in result["predictions"]:
            click.echo(f"  {p['probability']:7.2%}  {p['class']}")


@cli.command()
@click.argument("name", type=click.Choice(["mobilenet_v2"]))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The run directory to write.")
@click.option("--force", is_flag=True, help="Replace an existing --out.")
def pretrained(name, out, force):
    """A ready run directory with ImageNet weights and the 1000 class names (no training)."""
    from .train.pretrained_run import write_pretrained_run

    info = write_pretrained_run(name, out, force)
    click.echo(f"{name} with ImageNet weights ({info.num_classes} classes, {info.resolution}x{info.resolution}) "
               f"written to {out}/")


def main():
    """Entry point: user mistakes become one `Error:` line and a non-zero exit code."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except click.ClickException as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        code = e.exit_code
    except OSError as e:  # disk full, permissions...: the user's machine, not our bug
        click.echo(f"Error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
