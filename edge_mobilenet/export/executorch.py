"""ExecuTorch export: torch.export, lowered whole to the XNNPACK delegate.

model.pte is fp32; model.int8.pte is PT2E static quantization with XNNPACK's
quantizer (per-channel symmetric int8 weights, int8 activations) calibrated on
the export's calibration images. Both take float32 NCHW [1, 3, R, R] normalized
input, like the ONNX files, and output probabilities.

A layer XNNPACK does not take runs on ExecuTorch's portable kernels, many times
slower and without a word; so the export counts what is left outside the
delegate and refuses a file in which any conv or linear layer is.
"""
from collections import Counter
from pathlib import Path

import torch

from ..errors import EdgembError
from ..io import write_bytes_atomic
from ..runtime.executorch import PRECISION_METHOD, quiet_imports
from .backend import Backend, Classifier, Job

# Conv + ReLU6 quantized as one op (annotate_conv_relu6); benchmarks/executorch_targets.py
# measures it against XNNPACK's own annotation on a run's validation images.
FUSE_RELU6 = True
HEAVY_OPS = ("convolution", "linear", "addmm", "mm", "bmm")  # must never run outside the delegate


def ops_outside_delegate(graph_module) -> Counter:
    """Ops of a lowered graph that XNNPACK did not take (getitem only unpacks delegate outputs)."""
    names = (getattr(node.target, "__name__", str(node.target)) for node in graph_module.graph.nodes
             if node.op == "call_function")
    return Counter(name for name in names if "call_delegate" not in name and name != "getitem")


def lower(module: torch.nn.Module, example: torch.Tensor, int8: bool, name: str) -> bytes:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    try:
        program = torch.export.export(module, (example,))
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()],
                                           constant_methods={PRECISION_METHOD: int(int8)})
    except Exception as e:  # torch.export / the lowering reject the model: say what they said
        raise EdgembError(f"{name}: ExecuTorch cannot export this model "
                          f"({type(e).__name__}: {str(e).strip().splitlines()[0][:300]})") from None
    outside = ops_outside_delegate(edge.exported_program().graph_module)
    heavy = sorted(op for op in outside if any(h in op for h in HEAVY_OPS))
    if heavy:
        raise EdgembError(f"{name}: {', '.join(heavy)} not delegated to XNNPACK (they would run on "
                          "ExecuTorch's slow portable kernels): nothing was written")
    return edge.to_executorch().buffer


def annotate_conv_relu6(graph_module, config) -> None:
    """Quantize conv + ReLU6 as one op, like TFLite does: XNNPACK's quantizer fuses only
    ReLU, so for ReLU6 (hardtanh) it observes the conv's output before the clamp and the
    clamp shares those int8 levels, most of them spent on values the clamp removes.
    Here the conv takes int8 inputs and weights, and the one int8 output is after the
    clamp; XNNPACK fuses the clamp into the conv."""
    from torch.fx import Node
    from torchao.quantization.pt2e.quantizer import (QuantizationAnnotation, get_bias_qspec, get_input_act_qspec,
                                                     get_output_act_qspec, get_weight_qspec)
    from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY

    for clamp in graph_module.graph.nodes:
        if clamp.target not in (torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default):
            continue
        conv = clamp.args[0]
        if not (isinstance(conv, Node) and conv.target == torch.ops.aten.conv2d.default and len(conv.users) == 1):
            continue
        x, weight, bias = conv.args[0], conv.args[1], conv.args[2] if len(conv.args) > 2 else None
        inputs = {x: get_input_act_qspec(config), weight: get_weight_qspec(config)}
        if isinstance(bias, Node):
            inputs[bias] = get_bias_qspec(config)
        conv.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(input_qspec_map=inputs, _annotated=True)
        clamp.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(output_qspec=get_output_act_qspec(config),
                                                              _annotated=True)
        for node in (weight, bias):  # XNNPACK's annotators skip nodes already annotated
            if isinstance(node, Node):
                node.meta.setdefault(Q_ANNOTATION_KEY, QuantizationAnnotation())._annotated = True


def quantizer(fuse_relu6: bool):
    """XNNPACK's quantizer, per-channel symmetric int8 weights and int8 activations."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                        get_symmetric_quantization_config)

    class Quantizer(XNNPACKQuantizer):
        def annotate(self, model):
            if fuse_relu6:
                annotate_conv_relu6(model, self.global_config)
            return super().annotate(model)

    return Quantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))


def quantize(model: torch.nn.Module, example: torch.Tensor, calibration, fuse_relu6: bool):
    """PT2E static int8, calibrated one image at a time (the graph is exported for batch 1)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(torch.export.export(model, (example,)).module(), quantizer(fuse_relu6))
    with torch.no_grad():
        for x in torch.from_numpy(calibration).split(1):
            prepared(x)
    return convert_pt2e(prepared)


class ExecuTorchBackend(Backend):
    name = "executorch"
    suffix = "pte"
    fuse_relu6 = FUSE_RELU6

    def build(self, job: Job) -> None:
        quiet_imports()
        r = job.info.resolution
        example = torch.zeros(1, 3, r, r)
        classifier = Classifier(job.model).eval()
        write_bytes_atomic(job.out / "model.pte", lower(classifier, example, False, "model.pte"))
        job.log("model.pte: torch.export, XNNPACK partitioner, fully delegated")
        if job.int8:
            quantized = quantize(classifier, example, job.normalized_calibration(), self.fuse_relu6)
            write_bytes_atomic(job.out / "model.int8.pte", lower(quantized, example, True, "model.int8.pte"))
            job.log("model.int8.pte: PT2E static int8 (XNNPACK quantizer, per-channel), fully delegated")

    def input_contract(self, precision: str) -> dict:
        return {"layout": "NCHW", "normalized": True}

    def inspect(self, path: Path, float_layers: list[str]) -> dict:
        """What the file runs: delegate calls, and any kernel left outside the delegate."""
        from executorch.exir._serialize._program import deserialize_pte_binary
        plan = next(p for p in deserialize_pte_binary(path.read_bytes()).program.execution_plan
                    if p.name == "forward")
        calls = Counter()
        for instruction in plan.chains[0].instructions:
            args = instruction.instr_args
            kind = type(args).__name__
            if kind == "DelegateCall":
                calls[f"delegate {plan.delegates[args.delegate_index].id}"] += 1
            elif kind == "KernelCall":
                calls[plan.operators[args.op_index].name] += 1
        outside = [op for op in calls if not op.startswith("delegate ")]
        problems = [f"{op} runs outside the delegate" for op in outside]
        if any(h in op for op in outside for h in HEAVY_OPS):
            raise EdgembError(f"{path.name}: {'; '.join(problems)}")
        return {"ops": dict(calls.most_common()), "problems": problems}
