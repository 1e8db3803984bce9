"""ExecuTorch .pte files through ExecuTorch's own Python runtime (executorch.runtime).

Our .pte files take float32 NCHW [1, 3, R, R] normalized input, like the ONNX
files. The XNNPACK threadpool is process-wide and defaults to every core, so
the runner sets it to `threads` (the thread count a benchmark asks for).
"""
import logging
import os
from contextlib import contextmanager

import numpy as np

from ..data.preprocess import normalize_nchw
from ..errors import EdgembError
from .base import Runner

PRECISION_METHOD = "edgemb_int8"  # a constant method in our .pte files (export/executorch.py): 1 for int8
# The wheel's runtime is built without the event tracer, so it records no ETDump.
NO_ETDUMP = ("per-op times unavailable for .pte: the installed executorch wheel's runtime is built "
             "without the event tracer (ETDump); rebuild ExecuTorch with EXECUTORCH_ENABLE_EVENT_TRACER=ON")
DTYPES = {6: np.float32, 0: np.uint8, 1: np.int8}  # ExecuTorch ScalarType codes


def file_version(data: bytes) -> str | None:
    """The flatbuffer file identifier ("ET12"): it changes when ExecuTorch changes its file format."""
    return data[4:8].decode("ascii", "replace") if len(data) >= 8 else None


class ExecuTorchRunner(Runner):
    """graph_cost() stays None: the layers are inside the XNNPACK delegate's opaque blob."""
    format = "executorch"  # the export backend name (--formats), like "onnx" and "tflite"

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        quiet_imports()
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        data = self.path.read_bytes()
        try:
            with quiet_native_logs():
                portable_lib._unsafe_reset_threadpool(threads)
                # The program owns the method's memory: keep it alive as long as the method.
                self.program = program = Runtime.get().load_program(data)
                self.method = program.load_method("forward")
        except Exception as e:  # the runtime raises plain RuntimeError/ValueError with an error code
            found, expected = file_version(data), schema_version()
            if found and found.startswith("ET") and found[2:].isdigit() and found != expected:
                why = f"file format {found}, this runtime reads {expected}: written by another ExecuTorch version"
            else:
                why = str(e).strip().splitlines()[0][:200] if str(e).strip() else "not an ExecuTorch program"
            raise EdgembError(f"{self.path} cannot be loaded by ExecuTorch {installed_version()} ({why})") from None
        meta = self.method.metadata.input_tensor_meta(0)
        self.input_shape = tuple(int(d) for d in meta.sizes())
        self.input_dtype = np.dtype(DTYPES.get(meta.dtype(), np.float32))
        self.precision = "fp32"
        if PRECISION_METHOD in program.method_names:
            self.precision = "int8" if int(program.load_method(PRECISION_METHOD).execute([])[0]) else "fp32"

    def prepare(self, pixels):
        pre = self.require_info("input normalization").preprocessing
        return normalize_nchw(pixels, pre)

    def invoke(self, tensor):
        import torch
        return self.method.execute([torch.from_numpy(tensor)])[0].numpy()


def quiet_imports() -> None:
    """executorch imports torchao, which logs its optional GPU kernels failing to load and a
    torch deprecation warning on every start: noise, not news, for an edgemb user."""
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextmanager
def quiet_native_logs():
    """ExecuTorch's C++ runtime logs CPU probing and threadpool resets on stderr (fd 2)."""
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def installed_version() -> str:
    from importlib.metadata import version
    return version("executorch")


def schema_version() -> str:
    """The file identifier of the installed ExecuTorch's program schema."""
    import re
    from importlib.resources import files
    schema = (files("executorch") / "schema" / "program.fbs").read_text()
    return re.search(r'file_identifier "(\w+)"', schema).group(1)
