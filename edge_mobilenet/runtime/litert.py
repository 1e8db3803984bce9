from dataclasses import replace

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from ..data.preprocess import Preprocessing, normalize
from ..errors import EdgembError
from ..tflite_metadata import read_metadata
from .base import Runner
from .graph_cost import tflite_graph_cost


def interpreter(path, threads: int) -> Interpreter:
    try:
        model = Interpreter(model_path=str(path), num_threads=threads)
        model.allocate_tensors()
        return model
    except (ValueError, RuntimeError) as e:
        raise EdgembError(f"{path} is not a valid .tflite model ({str(e).splitlines()[0]})") from None


class LiteRTRunner(Runner):
    format = "tflite"

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        self.interpreter = interpreter(self.path, threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self.input["shape"])
        self.input_dtype = np.dtype(self.input["dtype"])
        self.precision = "int8" if self.input_dtype != np.float32 else "fp32"
        self.batched: tuple[int, Interpreter] | None = None  # (batch size, interpreter resized to it)

    def normalization(self) -> Preprocessing | None:
        """The (mean, std) a float or int8 input expects: as the model's metadata
        declares it (ours: the identity, normalization is inside the model), else the
        edgemb.json's for an int8 input. A float model without readable metadata is an
        error: feeding it a guess would give wrong answers that look right."""
        try:
            declared = read_metadata(self.path.read_bytes())["input"]["normalization"]
        except EdgembError as e:
            if self.input_dtype == np.float32 or self.info is None:
                raise EdgembError(f"{self.path} takes {self.input_dtype.name} input but its normalization "
                                  f"(mean, std) cannot be read from its TFLite metadata ({e}): export it with "
                                  "edgemb export, or add NormalizationOptions metadata") from None
            return self.info.preprocessing
        if declared is None:
            return self.require_info("input normalization").preprocessing
        base = self.info.preprocessing if self.info else Preprocessing.for_resolution(self.resolution)
        mean, std = (np.broadcast_to(np.asarray(declared[k], np.float32), 3) for k in ("mean", "std"))
        return replace(base, mean=tuple(mean.tolist()), std=tuple(std.tolist()))

    def prepare(self, pixels):
        if self.input_dtype == np.uint8:  # raw pixels: normalization is inside the model
            return np.ascontiguousarray(pixels)
        if not hasattr(self, "_normalization"):
            self._normalization = self.normalization()
        x = normalize(pixels, self._normalization)
        if self.input_dtype == np.float32:
            return x
        scale, zero_point = self.input["quantization"]
        info = np.iinfo(self.input_dtype)
        return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(self.input_dtype)

    def run(self, model: Interpreter, tensor: np.ndarray) -> np.ndarray:
        model.set_tensor(self.input["index"], tensor)
        model.invoke()
        out = model.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if out.dtype != np.float32:
            return (out.astype(np.float32) - zero_point) * np.float32(scale)
        return out

    def invoke(self, tensor):
        return self.run(self.interpreter, tensor)

    def invoke_batch(self, tensor):
        """All of `tensor` in one invoke of an interpreter resized to its batch, where the
        graph allows a batch other than 1 (else one image at a time)."""
        n = len(tensor)
        if n == 1:
            return self.invoke(tensor)
        if self.batched is None or self.batched[0] != n:
            model = Interpreter(model_path=str(self.path), num_threads=self.threads)
            try:
                model.resize_tensor_input(self.input["index"], [n, *self.input_shape[1:]])
                model.allocate_tensors()
                fits = model.get_tensor(self.output["index"]).shape[0] == n
            except (ValueError, RuntimeError):
                fits = False
            self.batched = (n, model if fits else None)  # None: the graph fixes a batch of 1 (a Reshape)
        model = self.batched[1]
        if model is None:
            return super().invoke_batch(tensor)
        return self.run(model, tensor)

    def graph_cost(self):
        return tflite_graph_cost(self.interpreter)
