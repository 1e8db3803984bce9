from dataclasses import replace

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from ..data.preprocess import Preprocessing, normalize
from ..errors import EdgembError
from ..tflite_metadata import read_metadata
from .base import Runner


class LiteRTRunner(Runner):
    format = "tflite"

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EdgembError(f"{self.path} is not a valid .tflite model ({str(e).splitlines()[0]})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(self.input["shape"])
        self.input_dtype = np.dtype(self.input["dtype"])
        self.precision = "int8" if self.input_dtype != np.float32 else "fp32"

        self.normalization = self.declared_normalization()

    def declared_normalization(self) -> Preprocessing:
        """A float input's normalization, as its metadata declares it (ours: the identity,
        normalization is inside the model), else the run's preprocessing."""
        if self.input_dtype != np.float32:
            return self.info.preprocessing
        try:
            declared = read_metadata(self.path.read_bytes())["input"]["normalization"]
        except EdgembError:
            return self.info.preprocessing
        mean, std = (np.broadcast_to(np.asarray(declared[k], np.float32), 3) for k in ("mean", "std"))
        return replace(self.info.preprocessing, mean=tuple(mean.tolist()), std=tuple(std.tolist()))

    def prepare(self, pixels):
        if self.input_dtype == np.uint8:  # raw pixels: normalization is inside the model
            return pixels[None]
        return normalize(pixels, self.normalization)[None]

    def invoke(self, tensor):
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if out.dtype != np.float32:
            return (out.astype(np.float32) - zero_point) * np.float32(scale)
        return out
