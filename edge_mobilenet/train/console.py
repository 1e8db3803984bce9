"""Progress bars and summary lines for the command line (the library itself prints nothing).
Bars go to stderr, so that --json output on stdout stays clean. When stderr is not a
terminal (a log, CI, nohup, torchrun), a plain line every few seconds shows instead."""
import shlex
import time
from collections.abc import Iterable, Iterator

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeRemainingColumn)
from rich.text import Text

SHOWN_SKIPPED = 3
PLAIN_EVERY = 10.0  # seconds between progress lines in a log


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


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class ConsoleReporter:
    """Shows a training run: a bar per epoch (rate, ETA, running loss and accuracy) on a
    terminal, or a plain line every PLAIN_EVERY seconds in a log; then one line per epoch."""

    def __init__(self):
        self.bar: Progress | None = None
        self.task = None
        self.plain = not Console(stderr=True).is_terminal
        self.epoch_label, self.total, self.done, self.started, self.last_line = "", 0, 0, 0.0, 0.0

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def track(self, items: Iterable, total: int, description: str, unit: str = "img") -> Iterator:
        self.close_bar()  # the epoch's training part is over: one bar at a time
        return track_progress(items, total, description, unit)

    def data_loaded(self, train, val) -> None:
        click.echo(f"{len(train)} training and {len(val)} validation images, "
                   f"{len(train.class_names)} classes")

    def epoch_started(self, epoch: int, epochs: int, images: int) -> None:
        self.epoch_label, self.total, self.done = f"Epoch {epoch}/{epochs}", images, 0
        self.started, self.last_line = time.monotonic(), float("-inf")  # a log shows the first step at once
        if self.plain:
            click.echo(f"{self.epoch_label}: started, {images:,} training images", err=True)
            return
        self.bar = progress_bar()
        self.bar.start()
        self.task = self.bar.add_task(self.epoch_label, total=images, status="", unit="img")

    def batch_done(self, images: int, loss: float, top1: float) -> None:
        self.done += images
        if not self.plain:
            self.bar.update(self.task, advance=images, status=f"loss {loss:.3f} top-1 {percent(top1)}")
            return
        now = time.monotonic()
        if now - self.last_line >= PLAIN_EVERY:
            self.last_line = now
            rate = self.done / (now - self.started)
            click.echo(f"{self.epoch_label}: {self.done:,}/{self.total:,} img, {rate:,.1f} img/s, "
                       f"loss {loss:.3f}, top-1 {percent(top1)}, ETA {duration((self.total - self.done) / rate)}",
                       err=True)

    def files_skipped(self, files: list[str]) -> None:
        warn_skipped(files)

    def epoch_done(self, record: dict) -> None:
        self.close_bar()
        click.echo(f"Epoch {record['epoch']}: train loss {record['train_loss']:.3f} "
                   f"top-1 {percent(record['train_top1'])} | val loss {record['val_loss']:.3f} "
                   f"top-1 {percent(record['val_top1'])} top-5 {percent(record['val_top5'])} | "
                   f"{record['images_per_second']:,.0f} img/s, {record['train_seconds']:.0f} s")

    def interrupted(self, epoch: int, step: int, finished_epochs: int, out) -> None:
        self.close_bar()
        kept = f"epochs 1-{finished_epochs} are saved" if finished_epochs else "no epoch had finished"
        click.echo(f"interrupted at epoch {epoch}, step {step} ({kept}): continue with "
                   f"`edgemb train --out {shlex.quote(str(out))} --resume`", err=True)

    def finished(self, best: dict, out) -> None:
        click.echo(f"Best validation top-1: {percent(best['val_top1'])} (epoch {best['epoch']}), "
                   f"top-5 {percent(best['val_top5'])}. Run directory: {out}")
