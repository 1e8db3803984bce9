"""The TensorFlow side of the TFLite export, run as its own process by tflite.py:
python -m edge_mobilenet.export.tflite_worker JOB.json"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.lite.python.convert import mlir_quantize  # noqa: E402

from ..models import build_spec  # noqa: E402
from .keras_model import build_keras_model, fold_normalization  # noqa: E402


def calibration_inputs(pixels: np.ndarray, center: float) -> np.ndarray:
    """Calibration inputs `pixel - center`, float32. The first sample carries one black
    and one white pixel so the uint8 input quantizes to exactly scale 1 and zero point
    `center`: a camera frame's bytes go into the model as they are."""
    inputs = pixels.astype(np.float32) - center
    inputs[0, 0, 0, :] = -center
    inputs[0, 0, 1, :] = 255.0 - center
    return inputs


def convert_fp32(keras_model) -> bytes:
    return tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()


def convert_int8(keras_model, inputs: np.ndarray, io_type=tf.uint8, ranges: dict | None = None,
                 float_layers: tuple = ()) -> bytes:
    """Full-integer TFLite: every op int8 (per-channel weights), `io_type` (uint8 or int8)
    input and output, activation ranges from `inputs` (float32, one sample per row,
    as the Keras model takes them), or, for the tensors `ranges` names (see
    quantization.quantized_points), those ranges instead. float_layers ("convN",
    "classifier"; needs ranges) stay in float, with QUANTIZE/DEQUANTIZE around them."""
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None]] for sample in inputs)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = io_type
    converter.inference_output_type = io_type
    if ranges is None:
        return converter.convert()
    # The converter's own two steps, with the recorded ranges replaced in between: it
    # calibrates (a float model holding each tensor's min/max), then quantizes from those
    # min/max, deriving every scale, zero point and int32 bias itself.
    converter._experimental_calibrate_only = True
    calibrated, outputs = set_recorded_ranges(converter.convert(), ranges)
    # the quantizer names a node by its output tensor
    denylisted = [outputs["logits" if layer == "classifier" else layer] for layer in float_layers]
    return mlir_quantize(calibrated, input_data_type=io_type, output_data_type=io_type,
                         denylisted_nodes=denylisted or None)


def set_recorded_ranges(calibrated: bytes, ranges: dict) -> tuple[bytes, dict[str, str]]:
    """A calibrated float .tflite with the min/max of the named tensors replaced, and the
    tensor name of each. Names map onto op outputs in execution order: convN (the Nth conv,
    after its fused activation), addB (residual adds, in order), pool (MEAN) and logits
    (FULLY_CONNECTED)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(calibrated, 0))
    graph = model.subgraphs[0]
    codes = {i: max(c.builtinCode, c.deprecatedBuiltinCode) for i, c in enumerate(model.operatorCodes)}
    op = schema.BuiltinOperator
    adds = sorted((name for name in ranges if name.startswith("add")), key=lambda n: int(n[3:]))
    counters, names = {"conv": 0, "add": 0}, {}
    for operator in graph.operators:
        code = codes[operator.opcodeIndex]
        if code in (op.CONV_2D, op.DEPTHWISE_CONV_2D):
            name = f"conv{counters['conv']}"
            counters["conv"] += 1
        elif code == op.ADD:
            name = adds[counters["add"]]
            counters["add"] += 1
        elif code == op.MEAN:
            name = "pool"
        elif code == op.FULLY_CONNECTED:
            name = "logits"
        else:
            continue
        low, high = ranges[name]
        tensor = graph.tensors[operator.outputs[0]]
        tensor.quantization.min, tensor.quantization.max = [float(low)], [float(high)]
        names[name] = tensor.name.decode()
    if counters["conv"] != sum(name.startswith("conv") for name in ranges) or counters["add"] != len(adds):
        raise RuntimeError(f"the converted graph has {counters} convs/adds, the ranges name others")
    builder = flatbuffers.Builder(len(calibrated) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), names


def main(job_path: str) -> None:
    job = json.loads(open(job_path).read())
    spec = build_spec(job["arch"], job["alpha"], job["num_classes"])
    weights = dict(np.load(job["weights"]))
    resolution, mean, std = job["resolution"], job["mean"], job["std"]
    with open(job["fp32"], "wb") as f:
        f.write(convert_fp32(build_keras_model(spec, resolution, weights, mean, std)))
    if "calibration" in job:
        # int8: normalization folded into the first conv, so no op runs before it (a 1x1
        # depthwise normalization costs ~5% of the whole model in int8). The input is
        # `pixel - center`, centred on the mean pixel so that the first conv's zero padding
        # is close to PyTorch's (the mean pixel); the uint8 zero point absorbs the shift.
        center = float(round(np.mean(mean)))
        if "int8_weights" in job:  # corrected by export.calibration
            weights = dict(np.load(job["int8_weights"]))
        folded = fold_normalization(weights, mean, std, center)
        with open(job["int8"], "wb") as f:
            f.write(convert_int8(build_keras_model(spec, resolution, folded),
                                 calibration_inputs(np.load(job["calibration"]), center),
                                 ranges=job.get("ranges"), float_layers=job.get("float_layers", ())))

if __name__ == "__main__":
    main(sys.argv[1])
