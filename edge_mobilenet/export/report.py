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
    header, rows = artifact_table(report)
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    for name, m in report["artifacts"].items():
        if "ops" in m:
            census = ", ".join(f"{op} {n}" for op, n in m["ops"].items())
            lines += ["", f"**{name} ops**: {census}"]
    lines += ["", f"Export took {report.get('seconds', 0):.1f} s.", ""]
    return "\n".join(lines)
