import numpy as np
import onnx
import onnxruntime as ort

from ..data.preprocess import normalize
from ..errors import EdgembError
from .base import Runner


def session(path, threads: int, profile: bool = False) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = profile
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise EdgembError(f"{path} is not a valid ONNX model ({str(e).splitlines()[0][:200]})") from None


def is_quantized(path) -> bool:
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in ("QuantizeLinear", "QLinearConv") for node in graph.node)


class OnnxRunner(Runner):
    """Our ONNX models take float32 NCHW normalized input, like the PyTorch model."""
    format = "onnx"

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        self.session = session(self.path, threads)
        self.input_name = self.session.get_inputs()[0].name
        shape = self.session.get_inputs()[0].shape
        if not all(isinstance(d, int) for d in shape):
            raise EdgembError(f"{self.path} has dynamic input shape {shape}: export it with a fixed shape")
        self.input_shape = tuple(shape)
        self.input_dtype = np.dtype(np.float32)
        self.precision = "int8" if is_quantized(self.path) else "fp32"

    def prepare(self, pixels):
        return np.ascontiguousarray(normalize(pixels, self.info.preprocessing).transpose(2, 0, 1)[None])

    def invoke(self, tensor):
        return self.session.run(None, {self.input_name: tensor})[0]
