"""The `edgemb bench` record for people: terminal tables, PNG plots and one
self-contained HTML page (tables, plots embedded as data: URLs).

Emulated latency is 200-600x slower than the silicon it imitates, so on an
emulated device every latency is shown relative to the first model, never in ms.
"""
import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

KIND_NAMES = {"conv": "standard conv", "depthwise": "depthwise", "pointwise": "pointwise",
              "linear": "fully connected", "other": "other ops"}
KIND_COLORS = {"conv": "#d62728", "depthwise": "#1f77b4", "pointwise": "#2ca02c", "linear": "#9467bd",
               "other": "#b0b0b0"}
# (key in theoretical_mac_ratio / measured_latency_ratio, what it compares)
COMPARISON_ROWS = [("model", "whole model"),
                   ("separable", "depthwise + pointwise -> standard conv"),
                   ("depthwise", "depthwise alone -> standard conv"),
                   ("pointwise", "pointwise alone -> standard conv"),
                   ("unchanged", "layers both share (stem, expansions, classifier)"),
                   ("other", "ops without MACs (add, pool, softmax...)")]


# Numbers as people read them

def millions(n: float) -> str:
    return f"{n / 1e6:,.1f}M"


def mebibytes(n: float | None) -> str:
    return "–" if n is None else f"{n / 2 ** 20:,.1f} MiB"


def times(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def number(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


def machine_line(record: dict) -> str:
    device, m = record["device"], record["device"]["machine"]
    emulated = " · EMULATED: latency shown relative only" if device["emulated"] else ""
    return (f"{device['name']} ({m.get('how', '?')}): {m.get('cpu', '?')}, {m.get('cores', '?')} cores, "
            f"{m.get('arch', '?')}{emulated}")


def settings_line(record: dict) -> str:
    s = record["settings"]
    return f"{s['threads']} thread(s), {s['runs']} timed runs after {s['warmup']} warm-up runs"


def latency_cells(record: dict, result: dict) -> list[str]:
    """median, p90, min, mean ± std: in ms, or relative to the first model's median when emulated."""
    lat = result["latency_ms"]
    if record["device"]["emulated"]:
        base = record["results"][0]["latency_ms"]["median"]
        return [times(lat[key] / base) for key in ("median", "p90", "min", "mean")] + ["–"]
    return [number(lat["median"], 3), number(lat["p90"], 3), number(lat["min"], 3),
            f"{lat['mean']:.3f} ± {lat['std']:.3f}"]


def latency_header(record: dict) -> list[str]:
    if record["device"]["emulated"]:
        return ["median (rel.)", "p90 (rel.)", "min (rel.)", "mean (rel.)", ""]
    return ["median ms", "p90 ms", "min ms", "mean ± std ms"]


def summary_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    header = ["model", "format", "precision", *latency_header(record), "MACs", "params", "size",
              "GMAC/s", "peak RSS", "parity max |Δ|", "top-1 agree"]
    rows = []
    for r in record["results"]:
        gmacs = "–" if record["device"]["emulated"] else number(r["gmacs_per_s"])
        rows.append([r["label"], r["format"], r["precision"], *latency_cells(record, r), millions(r["macs"]),
                     millions(r["params"]), mebibytes(r["size_bytes"]), gmacs, mebibytes(r["peak_rss_bytes"]),
                     f"{r['parity']['max_abs_diff']:.2g}", f"{100 * r['parity']['top1_agreement']:.0f}%"])
    return header, rows


def kind_rows(record: dict) -> tuple[list[str], list[list[str]]]:
    """Per model and layer kind: share of the profiled time, MACs and achieved GMAC/s."""
    header = ["model", "layer kind", "share of time", "ms", "MACs", "GMAC/s"]
    rows = []
    for r in record["results"]:
        if not r["op_profile"]:
            continue
        for kind, k in r["op_profile"]["by_kind"].items():
            gmacs = "–" if record["device"]["emulated"] else number(k["gmacs_per_s"])
            ms = "–" if record["device"]["emulated"] else number(k["ms"], 3)
            rows.append([r["label"], KIND_NAMES[kind], f"{100 * k['share']:.1f}%", ms,
                         millions(k["macs"]) if k["macs"] else "–", gmacs])
    return header, rows


def comparison_rows(comparison: dict) -> tuple[list[str], list[list[str]]]:
    header = ["layers", "theoretical MAC ratio", "measured latency ratio"]
    theory, measured = comparison["theoretical_mac_ratio"], comparison["measured_latency_ratio"]
    rows = [[name, times(theory.get(key)), times(measured.get(key))]
            for key, name in COMPARISON_ROWS if key in theory or measured.get(key) is not None]
    return header, rows


def pair_rows(comparison: dict) -> tuple[list[str], list[list[str]]]:
    header = ["depthwise conv", "Dk", "M", "N", "Df", "1/N + 1/Dk²", "MAC ratio", "DW ms", "PW ms",
              "standard ms", "latency ratio"]
    rows = [[p["depthwise"], str(p["kernel"]), str(p["in_channels"]), str(p["out_channels"]), str(p["out_size"]),
             f"{p['formula_ratio']:.4f}", times(p["theoretical_mac_ratio"]), number(p["depthwise_ms"], 4),
             number(p["pointwise_ms"], 4), number(p["standard_ms"], 4), times(p["measured_latency_ratio"])]
            for p in comparison["layers"]]
    return header, rows


def compared(record: dict) -> list[dict]:
    return [r for r in record["results"] if r.get("conv_comparison")]


# Terminal

def print_bench(record: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]Device[/] {machine_line(record)}; {settings_line(record)}")
    console.print(rich_table("Latency, cost and parity with the host", *summary_rows(record)))
    header, rows = kind_rows(record)
    if rows:
        console.print(rich_table("Where the time goes (per-op profile, by layer kind)", header, rows))
    for r in compared(record):
        c = r["conv_comparison"]
        title = f"{r['label']} vs its standard-conv twin ({c['twin']['arch']}): twin / separable"
        console.print(rich_table(title, *comparison_rows(c)))
    if any(not r["op_profile"] for r in record["results"]):
        console.print("[dim]No per-op profile for: "
                      + ", ".join(r["label"] for r in record["results"] if not r["op_profile"])
                      + " (the runtime's Python API gives none).[/]")


def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
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
    ax.legend(ncol=5, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(results) < 3 else -0.12))
    return png(figure)


def layer_scatter_plot(result: dict) -> bytes | None:
    """MACs vs measured time of every layer, the model's and its twin's: points far above
    the others' line get few MACs done per second (memory-bound)."""
    twin = result["conv_comparison"]["twin"]
    if not (result["op_profile"] and result["op_profile"]["layers"]):
        return None
    figure, ax = plt.subplots(figsize=(7, 4.6))
    for source, marker, who in ((result, "o", "separable"), (twin, "^", "twin")):
        layers = source["op_profile"]["layers"] if source["op_profile"] else None
        for kind in KIND_NAMES:
            points = [(row["macs"], row["ms"]) for row in layers or [] if row["kind"] == kind and row["ms"] > 0]
            if points:
                ax.scatter(*zip(*points), marker=marker, color=KIND_COLORS[kind], alpha=0.75, s=28,
                           label=f"{KIND_NAMES[kind]} ({who})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MACs per layer")
    ax.set_ylabel("measured time per layer, ms")
    ax.set_title(f"{result['label']}: MACs vs measured time per layer", fontsize=10)
    ax.grid(which="both", alpha=0.2)
    ax.legend(fontsize=8)
    return png(figure)


def speedup_plot(result: dict) -> bytes:
    """Theoretical (MAC) vs measured speed-up of the separable model over its twin, per layer type."""
    c = result["conv_comparison"]
    keys = [(key, name) for key, name in COMPARISON_ROWS[:5] if c["theoretical_mac_ratio"].get(key)]
    names = [name.split(" -> ")[0].replace(" (stem, expansions, classifier)", "") for _, name in keys]
    theory = [c["theoretical_mac_ratio"][key] for key, _ in keys]
    measured = [c["measured_latency_ratio"].get(key) or 0.0 for key, _ in keys]
    figure, ax = plt.subplots(figsize=(7, 3.6))
    positions = range(len(keys))
    ax.bar([p - 0.2 for p in positions], theory, 0.4, color="#bbbbbb", label="theoretical (MACs)")
    ax.bar([p + 0.2 for p in positions], measured, 0.4, color="#dd8452", label="measured (latency)")
    for p, value in zip(positions, measured):
        if not value:
            ax.text(p + 0.2, 0.05, "not\nprofiled", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(positions), names, fontsize=8)
    ax.set_yscale("log")
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_ylabel("standard-conv twin / separable")
    ax.set_title(f"{result['label']}: theoretical vs measured speed-up", fontsize=10)
    ax.legend(fontsize=8)
    return png(figure)


def gmacs_plot(result: dict) -> bytes | None:
    """Achieved GMAC/s per layer kind: depthwise convs do few MACs per byte moved."""
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

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; margin: 0.2em 0; } .note { color: #555; font-size: 0.9em; }
.warn { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.5em 0.8em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f4f6f8; } td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plots img { max-width: 100%; border: 1px solid #eee; }
"""


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_image(data: bytes | None, alt: str) -> str:
    if data is None:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def html_page(record: dict) -> str:
    parts = ["<h1>edgemb bench</h1>",
             f'<p class="meta">{html.escape(machine_line(record))}</p>',
             f'<p class="meta">{html.escape(settings_line(record))}; parity on '
             f'{record["results"][0]["parity"]["images"]} Fashion-MNIST test images, target vs host.</p>']
    if record["device"]["emulated"]:
        parts.append('<p class="warn">This device is emulated (QEMU): its latency is 200-600× that of the '
                     "real chip, so every latency here is relative to the first model, never a speed.</p>")
    parts += ["<h2>Latency, cost and parity</h2>", html_table(*summary_rows(record)),
              '<div class="plots">', html_image(latency_plot(record), "latency per model"),
              html_image(time_split_plot(record), "time per layer kind"), "</div>"]
    header, rows = kind_rows(record)
    if rows:
        parts += ["<h2>Where the time goes</h2>",
                  '<p class="note">Per-op profile rolled up by layer kind. GMAC/s is the layer kind\'s MACs '
                  "over its measured time.</p>", html_table(header, rows)]
    unprofiled = [r["label"] for r in record["results"] if not r["op_profile"]]
    if unprofiled:
        parts.append(f'<p class="note">No per-op profile for {html.escape(", ".join(unprofiled))}: '
                     "the runtime's Python API gives none.</p>")
    for r in compared(record):
        c = r["conv_comparison"]
        parts += [f"<h2>{html.escape(r['label'])} vs its standard-conv twin ({html.escape(c['twin']['arch'])})</h2>",
                  '<p class="note">Ratios are twin over separable model: how many times more MACs the standard '
                  "convs need, and how many times longer they take. A depthwise conv does little arithmetic per "
                  "byte it reads, so its measured share of the time is far above its share of the MACs.</p>",
                  html_table(*comparison_rows(c)),
                  '<div class="plots">', html_image(speedup_plot(r), "theoretical vs measured speed-up"),
                  html_image(gmacs_plot(r), "GMAC/s per layer kind"),
                  html_image(layer_scatter_plot(r), "MACs vs time per layer"), "</div>"]
        if c["layers"]:
            parts += ["<h3>Per depthwise + pointwise pair (paper: separable / standard = 1/N + 1/Dk²)</h3>",
                      html_table(*pair_rows(c))]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>edgemb bench</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
