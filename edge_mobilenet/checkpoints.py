"""Files of torch tensors (model.pt, last.pt, the ImageNet .pth): every load goes through
`load_state_dict` (torch.load with weights_only=True), so a file that needs arbitrary
objects unpickled is refused; every save is atomic."""
import io
from pathlib import Path

from .errors import EdgembError
from .io import write_bytes_atomic


def load_state_dict(path: Path) -> dict:
    """Load plain tensors only: anything that needs unpickling arbitrary objects is refused."""
    import torch  # here, not at the top: run.py imports this module and needs no torch to read edgemb.json

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError and others for unsafe or corrupt files
        raise EdgembError(f"cannot load {path} as plain weights ({type(e).__name__}); "
                          "only tensor checkpoints are accepted") from None
    if not isinstance(state, dict):
        raise EdgembError(f"{path} holds no state_dict")
    return state


def save_state_dict(path: Path, state: dict) -> None:
    """torch.save to a temporary file, then rename: a crash leaves the old file or none."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())
