import numpy as np
import torch

from ..checkpoints import load_state_dict
from ..data.preprocess import normalize_nchw
from ..errors import EdgembError
from ..run import WEIGHTS_FILE
from .base import Runner
from .graph_cost import torch_graph_cost


class TorchRunner(Runner):
    """PyTorch eager fp32, from a run directory (its model.pt) or a checkpoint beside an edgemb.json."""
    format = "pytorch"
    precision = "fp32"

    def __init__(self, path, threads=1):
        super().__init__(path, threads)
        self.require_info("architecture")
        self.weights = weights = self.path / WEIGHTS_FILE if self.path.is_dir() else self.path
        if not weights.is_file():
            raise EdgembError(f"{weights} is missing")
        state = load_state_dict(weights)
        state = state.get("model", state)  # a resume checkpoint (last.pt) keeps the weights under "model"
        self.model = self.info.build_model()
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError:
            raise EdgembError(f"{weights} does not fit {self.info.arch} alpha={self.info.alpha:g} "
                              f"with {self.info.num_classes} classes") from None
        self.model.eval().to(memory_format=torch.channels_last)
        r = self.info.resolution
        self.input_shape = (1, 3, r, r)
        self.input_dtype = np.dtype(np.float32)

    @property
    def size_bytes(self) -> int:
        return self.weights.stat().st_size

    def prepare(self, pixels):
        return normalize_nchw(pixels, self.info.preprocessing)

    def invoke(self, tensor):
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            x = torch.from_numpy(tensor).contiguous(memory_format=torch.channels_last)
            return self.model(x).softmax(1).numpy()

    def invoke_batch(self, tensor):
        return self.invoke(tensor)

    def graph_cost(self):
        return torch_graph_cost(self.model, self.info.resolution)
