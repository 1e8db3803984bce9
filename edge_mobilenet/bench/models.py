"""Which models `edgemb bench MODEL...` means, opened on the host: a file that is
not a valid model fails here, before any timing."""
from pathlib import Path

from ..errors import EdgembError
from ..run import RUN_FILE, WEIGHTS_FILE
from ..runtime import MODEL_SUFFIXES, Runner, load_runner


def resolve_models(paths: list[Path]) -> list[Path]:
    """MODEL arguments -> model paths: a file as is; a folder -> every exported model
    in it (an export bundle), and the folder itself first if it holds model.pt (a run)."""
    found: list[Path] = []
    exported = [suffix for suffix in MODEL_SUFFIXES if suffix != ".pt"]
    for path in map(Path, paths):
        if not path.exists():
            raise EdgembError(f"{path} does not exist")
        if path.is_file():
            if path.suffix not in MODEL_SUFFIXES:
                raise EdgembError(f"{path}: not a model edgemb can benchmark (expected "
                                  f"{', '.join(MODEL_SUFFIXES)}, a run directory or an export bundle folder)")
            found.append(path)
            continue
        artifacts = [p for p in path.iterdir() if p.is_file() and p.suffix in exported]
        artifacts.sort(key=lambda p: (MODEL_SUFFIXES.index(p.suffix), ".int8." in p.name, p.name))
        if (path / WEIGHTS_FILE).is_file():
            artifacts.insert(0, path)
        if not artifacts:
            raise EdgembError(f"{path} holds no model: expected {', '.join(exported)} files (an export bundle) "
                              f"or {WEIGHTS_FILE} and {RUN_FILE} (a run directory)")
        found += artifacts
    return list(dict.fromkeys(found))


def open_models(paths: list[Path], threads: int = 1) -> list[Runner]:
    return [load_runner(path, threads) for path in resolve_models(paths)]


def label(path: Path) -> str:
    return path.name if path.is_dir() else f"{path.parent.name}/{path.name}"
