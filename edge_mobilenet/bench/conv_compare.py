"""`--compare-conv`: the cost formula against measurement. The standard-conv twin
(twin.py) over the separable model, for the whole model and per layer type, and
per depthwise + pointwise pair with the paper's 1/N + 1/Dk² (separable MACs over
standard MACs)."""
from ..cost import LayerCost, profile


def align_twin(layers: list[LayerCost], twin_layers: list[LayerCost]) -> list[tuple[list[LayerCost], LayerCost]]:
    """Pair the model's layers with the twin's: each depthwise conv and the pointwise conv
    after it with the one standard conv that replaces them, every other layer with itself."""
    pairs, i = [], 0
    for twin_layer in twin_layers:
        separable = layers[i].kind == "depthwise" and layers[i + 1].kind == "pointwise"
        group = layers[i:i + 2] if separable else layers[i:i + 1]
        pairs.append((group, twin_layer))
        i += len(group)
    assert i == len(layers), "the twin replaces each depthwise + pointwise pair by one conv"
    return pairs


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def layer_times(result: dict) -> dict[str, float]:
    ops = result["op_profile"]
    return {row["name"]: row["ms"] for row in ops["layers"]} if ops and ops["layers"] else {}


def conv_comparison(result: dict, twin: dict) -> dict:
    """{twin (its result), theoretical_mac_ratio and measured_latency_ratio (each {model,
    separable, depthwise, pointwise, unchanged}), layers (per depthwise + pointwise pair)}."""
    ms, twin_ms = layer_times(result), layer_times(twin)
    cost, twin_cost = (profile(r["arch"], r["alpha"], r["resolution"], r["num_classes"]) for r in (result, twin))
    pairs = align_twin(cost.layers, twin_cost.layers)
    separable = [(group, t) for group, t in pairs if len(group) == 2]
    selections = {"separable": separable,
                  "depthwise": [(group[:1], t) for group, t in separable],
                  "pointwise": [(group[1:], t) for group, t in separable],
                  "unchanged": [(group, t) for group, t in pairs if len(group) == 1]}

    def time_of(layers: list[LayerCost], times: dict) -> float | None:
        found = [times.get(layer.name) for layer in layers]
        return None if not found or None in found else sum(found)

    theoretical = {"model": twin["macs"] / result["macs"]}
    measured = {"model": twin["latency_ms"]["median"] / result["latency_ms"]["median"]}
    for key, selected in selections.items():
        ours = [layer for group, _ in selected for layer in group]
        theirs = [t for _, t in selected]
        theoretical[key] = ratio(sum(t.macs for t in theirs), sum(layer.macs for layer in ours))
        measured[key] = ratio(time_of(theirs, twin_ms), time_of(ours, ms))

    layers = []
    for (dw, pw), standard in separable:
        n, k = pw.out_channels, dw.kernel
        layers.append({
            "depthwise": dw.name, "pointwise": pw.name, "standard": standard.name, "kernel": k,
            "in_channels": dw.in_channels, "out_channels": n, "out_size": dw.out_size,
            "depthwise_macs": dw.macs, "pointwise_macs": pw.macs, "standard_macs": standard.macs,
            "formula_ratio": 1 / n + 1 / (k * k),
            "theoretical_mac_ratio": standard.macs / (dw.macs + pw.macs),
            "depthwise_ms": ms.get(dw.name), "pointwise_ms": ms.get(pw.name), "standard_ms": twin_ms.get(standard.name),
            "measured_latency_ratio": ratio(twin_ms.get(standard.name), time_of([dw, pw], ms)),
        })
    return {"twin": twin, "theoretical_mac_ratio": theoretical, "measured_latency_ratio": measured,
            "layers": layers}
