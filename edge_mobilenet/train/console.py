"""Progress bars and summary lines for the command line (the library itself prints nothing).
Bars go to stderr, so that --json output on stdout stays clean."""
from collections.abc import Iterable, Iterator

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeRemainingColumn)
from rich.text import Text

SHOWN_SKIPPED = 3


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields["unit"]
        return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="progress.data.speed")


def progress_bar() -> Progress:
    """A bar on stderr, replaced by the summary line when done; none in logs (stderr not a terminal)."""
    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                    console=console, transient=True, disable=not console.is_terminal)


def track_progress(items: Iterable, total: int, description: str, unit: str = "img") -> Iterator:
    with progress_bar() as bar:
        task = bar.add_task(description, total=total, status="", unit=unit)
        for item in items:
            yield item
            bar.advance(task)


def warn_skipped(files: list[str]) -> None:
    if files:
        shown = ", ".join(files[:SHOWN_SKIPPED]) + (", ..." if len(files) > SHOWN_SKIPPED else "")
        click.echo(f"Warning: skipped {len(files)} file(s) that are not readable JPEG/PNG/BMP/WebP "
                   f"images: {shown}", err=True)


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


class ConsoleReporter:
    """Shows a training run: a bar per epoch (rate, ETA, running loss and accuracy), then one line."""

    def __init__(self):
        self.bar: Progress | None = None
        self.task = None

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def track(self, items: Iterable, total: int, description: str, unit: str = "img") -> Iterator:
        self.close_bar()  # the epoch's training part is over: one bar at a time
        return track_progress(items, total, description, unit)

    def data_loaded(self, train, val) -> None:
        warn_skipped(train.skipped + val.skipped)
        click.echo(f"{len(train.labels)} training and {len(val.labels)} validation images, "
                   f"{len(train.class_names)} classes")

    def epoch_started(self, epoch: int, epochs: int, images: int) -> None:
        self.bar = progress_bar()
        self.bar.start()
        self.task = self.bar.add_task(f"Epoch {epoch}/{epochs}", total=images, status="", unit="img")

    def batch_done(self, images: int, loss: float, top1: float) -> None:
        self.bar.update(self.task, advance=images, status=f"loss {loss:.3f} top-1 {percent(top1)}")

    def epoch_done(self, record: dict) -> None:
        self.close_bar()
        click.echo(f"Epoch {record['epoch']}: train loss {record['train_loss']:.3f} "
                   f"top-1 {percent(record['train_top1'])} | val loss {record['val_loss']:.3f} "
                   f"top-1 {percent(record['val_top1'])} top-5 {percent(record['val_top5'])} | "
                   f"{record['images_per_second']:,.0f} img/s, {record['train_seconds']:.0f} s")

    def finished(self, best: dict, out) -> None:
        click.echo(f"Best validation top-1: {percent(best['val_top1'])} (epoch {best['epoch']}), "
                   f"top-5 {percent(best['val_top5'])}. Run directory: {out}")
