"""The `edgemb bench` record for people: terminal tables, PNG plots and one
self-contained HTML page (tables, plots embedded as data: URLs).

Emulated latency is 200-600x slower than the silicon it imitates, so on an
emulated device every latency is shown relative to the first model, never in ms.
Printed to a pipe or a file, tables keep every figure whole (no "…").
"""
import html
import io
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,  # noqa: E402
                           TimeRemainingColumn)
from rich.table import Table  # noqa: E402
from rich.text import Text  # noqa: E402

from ..report_html import html_document, html_image, html_table  # noqa: E402

KIND_NAMES = {"conv": "standard conv", "depthwise": "depthwise", "pointwise": "pointwise",
              "linear": "fully connected", "other": "other ops"}
KIND_COLORS = {"conv": "#d62728", "depthwise": "#1f77b4", "pointwise": "#2ca02c", "linear": "#9467bd",
               "other": "#b0b0b0"}
# (key in theoretical_mac_ratio / measured_latency_ratio, what it compares, short name for plots)
COMPARISON_ROWS = [("model", "whole model", "whole model"),
                   ("separable", "depthwise + pointwise -> standard conv", "DW + PW"),
                   ("depthwise", "depthwise alone -> standard conv", "DW alone"),
                   ("pointwise", "pointwise alone -> standard conv", "PW alone"),
                   ("unchanged", "layers both share (stem, expansions, classifier)", "shared layers")]


# Numbers as people read them

def count(n: float) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:,.{1 if n >= 10 * size else 2}f}{unit}"
    return f"{n:,.0f}"


def mebibytes(n: float | None) -> str:
    return "–" if n is None else f"{n / 2 ** 20:,.1f} MiB"


def times(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def number(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def machine_line(record: dict) -> str:
    device, m = record["device"], record["device"]["machine"]
    emulated = " · EMULATED: latency shown relative only" if device["emulated"] else ""
    return (f"{device['name']} ({m.get('how', '?')}): {m.get('cpu', '?')} ({m.get('int8_instructions', '?')}), "
            f"{m.get('cores', '?')} cores, {m.get('arch', '?')}{emulated}")


def settings_line(record: dict) -> str:
    s = record["settings"]
    counts = ", ".join(map(str, s.get("thread_counts", [s["threads"]])))
    return f"{counts} thread(s), {s['runs']} timed runs after {s['warmup']} warm-up runs"


def latency_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """In ms with achieved GMAC/s, or, on an emulated device, relative to the first model."""
    results = record["results"]
    if record["device"]["emulated"]:
        base = results[0]["latency_ms"]["median"]
        header = ["model", "runtime", "median (relative)", "p90 (rel.)", "min (rel.)", "mean (rel.)"]
        rows = [[r["label"], f"{r['format']} {r['precision']}",
                 *(times(r["latency_ms"][key] / base) for key in ("median", "p90", "min", "mean"))]
                for r in results]
        return header, rows
    header = ["model", "runtime", "median ms", "p90", "min", "mean", "std", "GMAC/s"]
    rows = [[r["label"], f"{r['format']} {r['precision']}",
             *(number(r["latency_ms"][key], 3) for key in ("median", "p90", "min", "mean", "std")),
             number(r["gmacs_per_s"])] for r in results]
    return header, rows


def macs_cell(r: dict) -> str:
    """MACs, marked where they come from the graph alone or where graph and arch disagree."""
    check = r.get("cost_check")
    if r["macs"] is None:
        return "unknown"
    if check and not check["agree"]:
        return f"{count(r['macs'])} (graph: {count(check['graph_macs'])}!)"
    return count(r["macs"]) + (" (graph)" if r.get("macs_from") == "graph" else "")


def cost_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """peak memory: the model's own (RSS growth from loading to its last run, in a process of its own)."""
    header = ["model", "MACs", "params", "size", "peak memory", "parity max |Δ|", "top-1 agree"]
    rows = [[r["label"], macs_cell(r), "unknown" if r["params"] is None else count(r["params"]), mebibytes(r["size_bytes"]),
             mebibytes(r["peak_memory_bytes"]), f"{r['parity']['max_abs_diff']:.2g}",
             f"{100 * r['parity']['top1_agreement']:.0f}%"] for r in record["results"]]
    return header, rows


def thread_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """Per model and thread count: median latency (relative on an emulated device) and speed-up."""
    emulated = record["device"]["emulated"]
    header = ["model", "threads", "median (relative)" if emulated else "median ms", "speed-up", "peak memory"]
    rows = []
    for r in record["results"]:
        for t in r["threads"]:
            median = t["latency_ms"]["median"]
            rows.append([r["label"], str(t["threads"]),
                         times(median / r["latency_ms"]["median"]) if emulated else number(median, 3),
                         times(t["speedup"]), mebibytes(t["peak_memory_bytes"])])
    return header, rows


def notes(record: dict) -> list[str]:
    """What the tables cannot show: graph counts that disagree, unknown contracts, coarse profiles."""
    lines = []
    for r in record["results"]:
        check = r.get("cost_check")
        if check and not check["agree"]:
            lines.append(f"{r['label']}: the graph counts {check['graph_macs']:,} MACs, the arch in edgemb.json "
                         f"{check['arch_macs']:,}: the file does not hold the model its edgemb.json describes")
        if r.get("unknown"):
            lines.append(f"{r['label']}: {r['unknown']}; parity inputs: {r['input']['source']}")
        if r["op_profile"] and not r["op_profile"].get("resolved", True):
            lines.append(f"{r['label']}: per-op profile unresolved (its ops add up to "
                         f"{1000 * r['op_profile']['total_ms']:.1f} µs of a {1000 * r['latency_ms']['median']:.1f} µs "
                         "run: the profiler counts whole µs), so shares only and no GMAC/s")
    return lines


def kind_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """Per model and layer kind: share of the profiled time, MACs and (not emulated) ms and GMAC/s."""
    emulated = record["device"]["emulated"]
    header = ["model", "layer kind", "share of time", "MACs"] + ([] if emulated else ["ms", "GMAC/s"])
    rows = []
    for r in record["results"]:
        for kind, k in (r["op_profile"]["by_kind"] if r["op_profile"] else {}).items():
            row = [r["label"], KIND_NAMES[kind], f"{100 * k['share']:.1f}%", count(k["macs"]) if k["macs"] else "–"]
            rows.append(row if emulated else row + [number(k["ms"], 3), number(k["gmacs_per_s"])])
    return header, rows


def kind_share_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """One row per profiled model: each layer kind's share of the time and its GMAC/s."""
    profiled = [r for r in record["results"] if r["op_profile"]]
    kinds = [kind for kind in KIND_NAMES if any(kind in r["op_profile"]["by_kind"] for r in profiled)]
    rows = []
    for r in profiled:
        row = [r["label"]]
        for kind in kinds:
            k = r["op_profile"]["by_kind"].get(kind)
            rate = k and k["gmacs_per_s"] and not record["device"]["emulated"]
            row.append("–" if not k else f"{100 * k['share']:.0f}%" + (f" · {k['gmacs_per_s']:.1f}" if rate else ""))
        rows.append(row)
    return ["model", *(KIND_NAMES[kind] for kind in kinds)], rows


def comparison_rows(comparison: dict) -> tuple[list[str], list[list[str]]]:
    header = ["layers", "theoretical MAC ratio", "measured latency ratio"]
    theory, measured = comparison["theoretical_mac_ratio"], comparison["measured_latency_ratio"]
    rows = [[name, times(theory.get(key)), times(measured.get(key))] for key, name, _ in COMPARISON_ROWS
            if theory.get(key) is not None]
    return header, rows


def pair_rows(comparison: dict, emulated: bool) -> tuple[list[str], list[list[str]]]:
    """Per depthwise + pointwise pair: the formula, the MAC ratio and (not emulated) the times."""
    header = ["depthwise conv", "Dk", "M", "N", "Df", "1/N + 1/Dk²", "MAC ratio", "latency ratio"]
    if not emulated:
        header[-1:-1] = ["DW ms", "PW ms", "standard ms"]
    rows = []
    for p in comparison["layers"]:
        row = [p["depthwise"], str(p["kernel"]), str(p["in_channels"]), str(p["out_channels"]), str(p["out_size"]),
               f"{p['formula_ratio']:.4f}", times(p["theoretical_mac_ratio"]), times(p["measured_latency_ratio"])]
        if not emulated:
            row[-1:-1] = [number(p[key], 4) for key in ("depthwise_ms", "pointwise_ms", "standard_ms")]
        rows.append(row)
    return header, rows


def compared(record: dict) -> list[dict]:
    return [r for r in record["results"] if r.get("conv_comparison")]


# Terminal

class SecondsPerStepColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{1 / speed:,.1f} s/step" if speed else "- s/step", style="progress.data.speed")


def progress_bar() -> Progress:
    """The bar `edgemb bench` shows on stderr while models run (a step: one model on the target)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), SecondsPerStepColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)


def print_bench(record: dict, console: Console | None = None) -> None:
    console = console or output_console()
    console.print(f"[bold]Device[/] {machine_line(record)}; {settings_line(record)}")
    console.print(rich_table("Latency", *latency_rows(record)))
    if len(record["settings"].get("thread_counts", [1])) > 1:
        console.print(rich_table("Threads", *thread_rows(record)))
    console.print(rich_table("Cost, memory (the model's own) and parity with the host", *cost_rows(record)))
    header, rows = kind_share_rows(record)
    if rows:
        console.print(rich_table("Where the time goes: share of the profiled time · GMAC/s, by layer kind",
                                 header, rows))
    for r in compared(record):
        c = r["conv_comparison"]
        title = f"{r['label']} vs its standard-conv twin ({c['twin']['arch']}): twin / separable"
        console.print(rich_table(title, *comparison_rows(c)))
    if any(not r["op_profile"] for r in record["results"]):
        console.print("[dim]No per-op profile for: "
                      + ", ".join(r["label"] for r in record["results"] if not r["op_profile"])
                      + " (the runtime's Python API gives none).[/]")
    for r in record["results"]:
        if r.get("op_profile_unavailable"):
            console.print(f"Note: {r['label']}: {r['op_profile_unavailable']}", markup=False)
    for line in notes(record):
        console.print(f"Note: {line}", markup=False)


def output_console() -> Console:
    """stdout; when it is not a terminal, wide enough that no table is cut to fit."""
    return Console() if sys.stdout.isatty() else Console(width=10_000)


def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        # fold, never "…": a narrow terminal wraps a figure rather than cutting it
        table.add_column(name, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


# Plots

def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def latency_plot(record: dict) -> bytes:
    results = record["results"]
    emulated = record["device"]["emulated"]
    base = results[0]["latency_ms"]["median"] if emulated else 1.0
    medians = [r["latency_ms"]["median"] / base for r in results]
    spread = [(r["latency_ms"]["p90"] - r["latency_ms"]["median"]) / base for r in results]
    figure, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(results)))
    ax.barh([r["label"] for r in results], medians, xerr=[[0] * len(results), spread], color="#4c72b0",
            capsize=3)
    ax.invert_yaxis()
    ax.set_xlabel(f"latency relative to {results[0]['label']} (emulated)" if emulated
                  else "latency, ms (median; whisker to p90)")
    ax.grid(axis="x", alpha=0.3)
    return png(figure)


def time_split_plot(record: dict) -> bytes | None:
    """Stacked shares of the profiled time per layer kind, one bar per model."""
    results = [r for r in record["results"] if r["op_profile"]]
    results += [r["conv_comparison"]["twin"] for r in compared(record) if r["conv_comparison"]["twin"]["op_profile"]]
    if not results:
        return None
    figure, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(results)))
    left = [0.0] * len(results)
    for kind, name in KIND_NAMES.items():
        shares = [100 * r["op_profile"]["by_kind"].get(kind, {}).get("share", 0.0) for r in results]
        ax.barh([r["label"] for r in results], shares, left=left, color=KIND_COLORS[kind], label=name)
        left = [a + b for a, b in zip(left, shares)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the profiled time, %")
    ax.legend(ncol=5, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return png(figure)


def layer_scatter_plot(result: dict, emulated: bool) -> bytes | None:
    """MACs vs measured time of every layer, the model's and its twin's: points far above
    the others' line get few MACs done per second (memory-bound)."""
    twin = result["conv_comparison"]["twin"]
    if not (result["op_profile"] and result["op_profile"]["layers"]):
        return None
    scale = 1 / result["latency_ms"]["median"] if emulated else 1.0
    figure, ax = plt.subplots(figsize=(7, 4.6))
    for source, marker, who in ((result, "o", "separable"), (twin, "^", "twin")):
        layers = source["op_profile"]["layers"] if source["op_profile"] else None
        for kind in KIND_NAMES:
            points = [(row["macs"], row["ms"] * scale) for row in layers or []
                      if row["kind"] == kind and row["ms"] > 0]
            if points:
                ax.scatter(*zip(*points), marker=marker, color=KIND_COLORS[kind], alpha=0.75, s=28,
                           label=f"{KIND_NAMES[kind]} ({who})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per layer")
    ax.set_ylabel("time per layer / the model's median latency (emulated)" if emulated
                  else "measured time per layer, ms")
    ax.set_title(f"{result['label']}: MACs vs measured time per layer", fontsize=10)
    ax.grid(which="both", alpha=0.2)
    ax.legend(fontsize=8)
    return png(figure)


def speedup_plot(result: dict) -> bytes:
    """Theoretical (MAC) vs measured speed-up of the separable model over its twin, per layer type."""
    c = result["conv_comparison"]
    rows = [(key, short) for key, _, short in COMPARISON_ROWS if c["theoretical_mac_ratio"].get(key) is not None]
    theory = [c["theoretical_mac_ratio"][key] for key, _ in rows]
    measured = [c["measured_latency_ratio"].get(key) or 0.0 for key, _ in rows]
    figure, ax = plt.subplots(figsize=(7, 3.6))
    positions = range(len(rows))
    ax.bar([p - 0.2 for p in positions], theory, 0.4, color="#bbbbbb", label="theoretical (MACs)")
    ax.bar([p + 0.2 for p in positions], measured, 0.4, color="#dd8452", label="measured (latency)")
    for p, value in zip(positions, measured):
        if not value:
            ax.text(p + 0.2, 1.0, "not\nprofiled", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(positions), [short for _, short in rows], fontsize=9)
    ax.set_yscale("log")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_ylabel("standard-conv twin / separable")
    ax.set_title(f"{result['label']}: theoretical vs measured speed-up", fontsize=10)
    ax.legend(fontsize=8)
    return png(figure)


def gmacs_plot(result: dict, emulated: bool) -> bytes | None:
    """Achieved GMAC/s per layer kind: depthwise convs do few MACs per byte moved.
    None on an emulated device, where a rate would pass for the chip's."""
    if emulated:
        return None
    twin = result["conv_comparison"]["twin"]
    bars = []
    for source, who in ((result, ""), (twin, " (twin)")):
        if source["op_profile"] and source["op_profile"]["layers_mapped"]:
            for kind, k in source["op_profile"]["by_kind"].items():
                if k["gmacs_per_s"]:
                    bars.append((KIND_NAMES[kind] + who, k["gmacs_per_s"], KIND_COLORS[kind]))
    if not bars:
        return None
    figure, ax = plt.subplots(figsize=(7, 0.6 + 0.4 * len(bars)))
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
    ax.invert_yaxis()
    ax.set_xlabel("achieved GMAC/s (MACs / measured time)")
    ax.set_title(f"{result['label']}: compute rate per layer kind", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return png(figure)


# HTML

def html_page(record: dict) -> str:
    return html_document("edgemb bench", ["<h1>edgemb bench</h1>", *bench_sections(record)])


def bench_sections(record: dict) -> list[str]:
    """The page's body below its title: also a section of `edgemb demo`'s report."""
    emulated = record["device"]["emulated"]
    parts = [f'<p class="meta">{html.escape(machine_line(record))}</p>',
             f'<p class="meta">{html.escape(settings_line(record))}; parity on '
             f'{record["results"][0]["parity"]["images"]} Fashion-MNIST test images, target vs host.</p>']
    if emulated:
        parts.append('<p class="warn">This device is emulated (QEMU): its latency is 200-600× that of the '
                     "real chip, so every latency here is relative to the first model, never a speed.</p>")
    parts += ["<h2>Latency</h2>", html_table(*latency_rows(record))]
    if len(record["settings"].get("thread_counts", [1])) > 1:
        parts += ["<h2>Threads</h2>", html_table(*thread_rows(record))]
    parts += ["<h2>Cost, memory (the model's own) and parity with the host</h2>", html_table(*cost_rows(record)),
              '<div class="plots">', html_image(latency_plot(record), "latency per model"),
              html_image(time_split_plot(record), "time per layer kind"), "</div>"]
    parts += [f'<p class="note">{html.escape(line)}</p>' for line in notes(record)]
    header, rows = kind_rows(record)
    if rows:
        rate = "" if emulated else " GMAC/s is the layer kind's MACs over its measured time."
        parts += ["<h2>Where the time goes</h2>",
                  f'<p class="note">Per-op profile rolled up by layer kind.{rate}</p>', html_table(header, rows)]
    unprofiled = [r["label"] for r in record["results"] if not r["op_profile"]]
    if unprofiled:
        parts.append(f'<p class="note">No per-op profile for {html.escape(", ".join(unprofiled))}: '
                     "the runtime's Python API gives none.</p>")
    parts += [f'<p class="note">{html.escape(r["label"])}: {html.escape(r["op_profile_unavailable"])}</p>'
              for r in record["results"] if r.get("op_profile_unavailable")]
    for r in compared(record):
        c = r["conv_comparison"]
        parts += [f"<h2>{html.escape(r['label'])} vs its standard-conv twin ({html.escape(c['twin']['arch'])})</h2>",
                  '<p class="note">Ratios are twin over separable model: how many times more MACs the standard '
                  "convs need, and how many times longer they take. A depthwise conv does little arithmetic per "
                  "byte it reads, so its measured share of the time is far above its share of the MACs.</p>",
                  html_table(*comparison_rows(c)),
                  '<div class="plots">', html_image(speedup_plot(r), "theoretical vs measured speed-up"),
                  html_image(gmacs_plot(r, emulated), "GMAC/s per layer kind"),
                  html_image(layer_scatter_plot(r, emulated), "MACs vs time per layer"), "</div>"]
        if c["layers"]:
            parts += ["<h3>Per depthwise + pointwise pair (paper: separable / standard = 1/N + 1/Dk²)</h3>",
                      html_table(*pair_rows(c, emulated))]
    return parts
