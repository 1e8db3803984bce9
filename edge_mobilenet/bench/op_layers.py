"""Per-op timings -> our layers, kinds of layer and achieved GMAC/s.

Conv and fully connected ops run in the order of the network's layers in every
runtime, so the last len(layers) such ops compute the layers one to one, provided
every op can compute its layer (XNNPACK runs a 1x1 conv as "Fully Connected ...
GEMM"; ONNX's Conv is any conv). Ops before them are the input normalization the
int8 export builds in (a 1x1 depthwise conv), counted as "other". Where ops and
layers do not match, the op names alone give the kind, and "conv" then includes
the pointwise convs.

A layer is anything with name, kind and macs: cost.LayerCost (from edgemb.json's
arch) or a layer of the graph's own count (runtime/graph_cost.py).
"""
from types import SimpleNamespace

KINDS = ("conv", "depthwise", "pointwise", "linear", "other")
LINEAR_OP_WORDS = ("fully_connected", "fully connected", "gemm", "matmul", "addmm")
LAYERS_AN_OP_CAN_BE = {"depthwise": {"depthwise"}, "conv": {"conv", "pointwise", "depthwise"},
                       "linear": {"pointwise", "linear"}}
# The profilers' times add up to at least this share of the measured latency, or the
# profile is too coarse to divide MACs by (LiteRT and ONNX Runtime count whole µs).
RESOLVED_SHARE = 0.5


def graph_layers(graph_cost) -> list:
    """A graph count's layers, named by op and position, in the shape op_layers uses."""
    return [SimpleNamespace(name=f"{layer['op']} {i}", kind=layer["kind"], macs=layer["macs"])
            for i, layer in enumerate(graph_cost.layers)]


def op_family(op: str) -> str | None:
    """"depthwise", "conv" or "linear" for the ops that carry MACs, None for the rest."""
    name = op.lower()
    if "depthwise" in name or "dwconv" in name:
        return "depthwise"
    if "conv" in name:
        return "conv"
    if name == "linear" or any(word in name for word in LINEAR_OP_WORDS):
        return "linear"
    return None


def assign_layers(ops: list[dict], layers: list) -> list | None:
    """The layer each op computes (None for ops without MACs), or None if the ops and
    the layers cannot be matched one to one."""
    families = [op_family(op["op"]) for op in ops]
    with_macs = [i for i, family in enumerate(families) if family]
    if len(with_macs) < len(layers):
        return None
    assigned: list = [None] * len(ops)
    for i, layer in zip(with_macs[len(with_macs) - len(layers):], layers):
        if layer.kind not in LAYERS_AN_OP_CAN_BE[families[i]]:
            return None
        assigned[i] = layer
    return assigned


def gmacs_per_s(macs: int, ms: float) -> float | None:
    return macs / (ms * 1e6) if ms > 0 else None


def rollup_ops(ops: list[dict], layers: list, latency_ms: float) -> dict:
    """Per-op timings (ms per inference) rolled up per op type, per layer kind (with
    MACs and achieved GMAC/s) and, where the ops map onto the layers, per layer.
    `resolved` is False when the ops' times add up to less than RESOLVED_SHARE of
    `latency_ms` (the median latency): then no rate is given, only shares."""
    assigned = assign_layers(ops, layers)
    if assigned:
        kinds = [layer.kind if layer else "other" for layer in assigned]
    else:
        kinds = [op_family(op["op"]) or "other" for op in ops]
    by_op: dict[str, dict] = {}
    by_kind = {kind: {"ms": 0.0, "macs": 0, "count": 0} for kind in KINDS}
    for op, kind in zip(ops, kinds):
        entry = by_op.setdefault(op["op"], {"op": op["op"], "count": 0, "ms": 0.0})
        entry["count"] += 1
        entry["ms"] += op["ms"]
        by_kind[kind]["count"] += 1
        by_kind[kind]["ms"] += op["ms"]
    if assigned:
        for layer in layers:
            by_kind[layer.kind]["macs"] += layer.macs
    total = sum(op["ms"] for op in ops)
    resolved = total >= RESOLVED_SHARE * latency_ms
    for entry in by_kind.values():
        entry["share"] = entry["ms"] / total if total else 0.0
        entry["gmacs_per_s"] = gmacs_per_s(entry["macs"], entry["ms"]) if entry["macs"] and resolved else None
    layer_rows = None
    if assigned:
        layer_rows = [{"name": layer.name, "kind": layer.kind, "macs": layer.macs, "ms": op["ms"],
                       "op": op["op"], "node": op["node"]}
                      for op, layer in zip(ops, assigned) if layer]
    return {"total_ms": total, "layers_mapped": assigned is not None, "resolved": resolved,
            "by_op": sorted(by_op.values(), key=lambda e: -e["ms"]),
            "by_kind": {kind: entry for kind, entry in by_kind.items() if entry["count"]},
            "layers": layer_rows}
