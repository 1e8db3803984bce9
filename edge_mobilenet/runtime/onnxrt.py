import numpy as np
import onnx
import onnxruntime as ort

from ..data.preprocess import normalize_nchw
from ..errors import EdgembError
from .base import Runner
from .graph_cost import onnx_graph_cost


def session(model, threads: int, profile: bool = False) -> ort.InferenceSession:
    """`model`: a path or serialized ONNX bytes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = profile
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise EdgembError(f"{model if not isinstance(model, bytes) else 'the model'} is not a valid ONNX model "
                          f"({str(e).splitlines()[0][:200]})") from None


def is_quantized(path) -> bool:
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in ("QuantizeLinear", "QLinearConv") for node in graph.node)


def with_free_batch(path) -> bytes:
    """The model with a symbolic batch axis on its input and output, for batched runs."""
    model = onnx.load(str(path))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]  # shapes inferred for batch 1 would contradict it
    return model.SerializeToString()


class OnnxRunner(Runner):
    """Our ONNX models take float32 NCHW normalized input, like the PyTorch model."""
    format = "onnx"

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        self.session = session(self.path, threads)
        model_input = self.session.get_inputs()[0]
        self.input_name, shape = model_input.name, model_input.shape
        if not all(isinstance(d, int) for d in shape):
            raise EdgembError(f"{self.path} has dynamic input shape {shape}: export it with a fixed shape")
        self.input_shape = tuple(shape)
        self.input_dtype = np.dtype(np.float32 if model_input.type == "tensor(float)" else np.uint8)
        self.precision = "int8" if is_quantized(self.path) else "fp32"
        self.batched: ort.InferenceSession | None | bool = False  # False: not tried yet; None: batch 1 only

    def prepare(self, pixels):
        pre = self.require_info("input normalization").preprocessing
        return normalize_nchw(pixels, pre)

    def invoke(self, tensor):
        return self.session.run(None, {self.input_name: tensor})[0]

    def invoke_batch(self, tensor):
        if len(tensor) > 1 and self.batched is False:
            try:
                self.batched = session(with_free_batch(self.path), self.threads)
                self.batched.run(None, {self.input_name: tensor[:2]})
            except Exception:  # the graph fixes its batch to 1 (e.g. a Reshape to [1, ...]): one at a time
                self.batched = None
        if len(tensor) > 1 and self.batched:
            return self.batched.run(None, {self.input_name: tensor})[0]
        return super().invoke_batch(tensor)

    def graph_cost(self):
        return onnx_graph_cost(self.path)
