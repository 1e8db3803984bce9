"""Atomic writes: a reader never sees a half-written file or folder."""
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def umask_mode(mode: int) -> int:
    """`mode` less the process umask: what a plain open() or mkdir() would give."""
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode(0o666))  # mkstemp creates files readable by their owner only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2) + "\n")


@contextmanager
def atomic_dir(final: Path, force: bool = False):
    """Build a folder in a temporary sibling and rename it into place only if the
    block finishes; on any error the temporary folder is removed and `final` is
    untouched. With force, an existing `final` is replaced at the end."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    os.chmod(tmp, umask_mode(0o777))
    try:
        yield tmp
        if final.exists() and force:
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
