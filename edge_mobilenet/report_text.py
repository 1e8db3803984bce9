"""Tables for the terminal (rich)."""
import sys

from rich.console import Console
from rich.table import Table

from .cost import Profile

# Piped output keeps the full layer names instead of wrapping to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 130)


def millions(n: float) -> str:
    return f"{n / 1e6:,.2f}M"


def print_profile(p: Profile) -> None:
    layers = Table(title=f"{p.arch} alpha={p.alpha:g} resolution={p.resolution}",
                   title_justify="left")
    for col in ("layer", "kind", "in", "out", "k", "s", "size", "MACs", "params"):
        layers.add_column(col, justify="left" if col in ("layer", "kind") else "right")
    for layer in p.layers:
        layers.add_row(layer.name, layer.kind, str(layer.in_channels), str(layer.out_channels),
                       str(layer.kernel), str(layer.stride), str(layer.out_size),
                       millions(layer.macs), f"{layer.params:,}")
    layers.add_section()
    layers.add_row("total", "", "", "", "", "", "", millions(p.macs), f"{p.params:,}")
    console.print(layers)

    if p.separable:
        pairs = Table(title="Depthwise separable vs standard conv (MACs)", title_justify="left")
        for col in ("depthwise", "M", "N", "Df", "DW", "PW", "standard", "ratio", "1/N+1/Dk²"):
            pairs.add_column(col, justify="left" if col == "depthwise" else "right")
        for s in p.separable:
            pairs.add_row(s.depthwise, str(s.in_channels), str(s.out_channels), str(s.out_size),
                          millions(s.dw_macs), millions(s.pw_macs), millions(s.standard_macs),
                          f"{s.ratio:.4f}", f"{s.formula_ratio:.4f}")
        console.print(pairs)
    console.print(f"[bold]{p.arch}[/] {p.alpha:g}-{p.resolution}: {millions(p.macs)} MACs, "
                  f"{millions(p.params)} params (+{p.bn_params:,} BatchNorm params)")
