"""report.md: the export's validation report, for people."""
from .calibration import describe_plan


def percent(metrics: dict, key: str) -> str:
    return f"{100 * metrics[key]:.2f}%" if key in metrics else "–"


def artifact_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of every artifact against PyTorch: report.md's table and the demo report's."""
    header = ["artifact", "precision", "size", "top-1", "top-5", "agreement vs PyTorch", "SQNR (dB)", "max abs diff"]
    torch = report["pytorch"]
    rows = [["PyTorch (model.pt)", "fp32", f"{torch['size_bytes'] / 1e6:.2f} MB", percent(torch, "top1"),
             percent(torch, "top5"), "reference", "", ""]]
    for name, m in report["artifacts"].items():
        rows.append([name, m["precision"], f"{m['size_bytes'] / 1e6:.2f} MB", percent(m, "top1"), percent(m, "top5"),
                     percent(m, "top1_agreement"), f"{m['sqnr_db']:.1f}", f"{m['max_abs_diff']:.2g}"])
    return header, rows


def layered(report: dict) -> dict[str, list[dict]]:
    """{artifact name: its per-layer SQNR list} of the artifacts that have one."""
    return {name: m["layers"] for name, m in report["artifacts"].items() if "layers" in m}


def worst_layers_line(metrics: dict) -> str:
    """One artifact's worst layers (largest own SQNR drop) in one line."""
    drops = {layer["name"]: layer["drop_db"] for layer in metrics["layers"]}
    worst = ", ".join(f"{name} {drops[name]:.1f} dB" for name in metrics["worst_layers"])
    return f"largest SQNR drops {worst}; {metrics['layers'][-1]['sqnr_db']:.1f} dB left at the logits"


def layer_table(report: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows): each quantized tensor's SQNR vs fp32 and its drop from the previous one,
    one column pair per int8 artifact."""
    artifacts = layered(report)
    header = ["layer"] + [f"{name} {column}" for name in artifacts for column in ("SQNR (dB)", "drop (dB)")]
    columns = list(artifacts.values())
    rows = []
    for i, layer in enumerate(columns[0]):
        cells = [layer["name"]]
        for layers in columns:
            drop = layers[i]["drop_db"]
            cells += [f"{layers[i]['sqnr_db']:.1f}", "" if drop is None else f"{drop:+.1f}"]
        rows.append(cells)
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(row) + " |"
                                                                               for row in rows]


def report_markdown(report: dict) -> str:
    data = ("labelled validation images." if report["labelled"]
            else "calibration images (no labels: agreement with PyTorch only).")
    lines = [f"# Export report: {report['arch']} alpha={report['alpha']:g} resolution={report['resolution']}",
             "", f"Run: `{report['run']}`. Validated on {report['validation_images']} {data}", ""]
    for fmt, h in report.get("headline", {}).items():
        drop = f"top-1 drop {h['top1_drop_points']:+.2f} points, " if "top1_drop_points" in h else ""
        lines.append(f"- **{fmt} int8 vs fp32**: {drop}top-1 agreement {100 * h['top1_agreement']:.1f}%, "
                     f"SQNR {h['sqnr_db']:.1f} dB, size {100 * h['size_ratio']:.0f}% of fp32")
    if "int8_method" in report:
        lines.append(f"- **int8 calibration** ({', '.join(report['int8_method']['formats'])}): "
                     f"{describe_plan(report['int8_method'])} (default chosen in benchmarks/results/int8_methods.md)")
    for name, m in report["artifacts"].items():
        if "layers" in m:
            lines.append(f"- **{name} worst layers**: {worst_layers_line(m)}")
    lines += markdown_table(*artifact_table(report))
    for name, m in report["artifacts"].items():
        if "ops" in m:
            census = ", ".join(f"{op} {n}" for op, n in m["ops"].items())
            lines += ["", f"**{name} ops**: {census}"]
    if layered(report):
        images = min(m["layer_images"] for m in report["artifacts"].values() if "layers" in m)
        lines += ["", f"## Per-layer SQNR of int8 vs fp32 ({images} images)", "",
                  "Each quantized tensor of the int8 model against the fp32 network's same tensor, both run "
                  "end to end: the SQNR is the error accumulated up to that layer, the drop what the layer "
                  "itself lost (positive: worse)."]
        lines += markdown_table(*layer_table(report))
    lines += ["", f"Export took {report.get('seconds', 0):.1f} s.", ""]
    return "\n".join(lines)
