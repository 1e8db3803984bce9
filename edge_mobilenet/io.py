"""Atomic writes: a reader never sees a half-written file or folder.

Temporary siblings carry their owner's process id (`.NAME.tmp-PID-XXXX`,
`.NAME.partial-PID-XXXX`, `.NAME.old-PID-XXXX`), so `sweep_stale` can remove those
a killed process left and leave a live one's alone. `folder_lock` keeps two
processes from writing one folder at once."""
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import EdgembError
from .processes import pid_alive

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|partial|old)-(?P<pid>\d+)-[^/]*")


class DiskFull(EdgembError):
    """No space left for `path`: it was not written, and what it held before is untouched."""

    def __init__(self, path: Path):
        self.path = Path(path)
        before = f"the previous {self.path.name} is intact" if self.path.exists() else "nothing was written"
        super().__init__(f"no space left on device for {self.path}: {before}")


def owned_prefix(name: str, kind: str) -> str:
    """The prefix of a temporary sibling of NAME owned by this process."""
    return f".{name}.{kind}-{os.getpid()}-"


def umask_mode(mode: int) -> int:
    """`mode` less the process umask: what a plain open() or mkdir() would give."""
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=owned_prefix(path.name, "tmp"), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode(0o666))  # mkstemp creates files readable by their owner only
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno in DISK_FULL:
            raise DiskFull(path) from None
        raise
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
    tmp = Path(tempfile.mkdtemp(prefix=owned_prefix(final.name, "partial"), dir=final.parent))
    os.chmod(tmp, umask_mode(0o777))
    try:
        yield tmp
        if final.exists() and force:
            # A kill between the two renames leaves only .NAME.old-PID-: sweep_stale puts it back.
            old = final.with_name(owned_prefix(final.name, "old") + tmp.name.rsplit("-", 1)[1])
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep_stale(folder: Path, name: str | None = None) -> list[Path]:
    """Clean up after killed processes in `folder`: remove the temporary siblings (of
    `name`, or of every name) whose owner is dead, except that an `.old-` folder whose
    original is missing (killed between the two renames of a forced replace) is
    renamed back. Live owners' temporaries are left alone. Returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        match = TEMPORARY.fullmatch(path.name)
        if not match or (name is not None and match["name"] != name) or pid_alive(int(match["pid"])):
            continue
        original = path.with_name(match["name"])
        if match["kind"] == "old" and not original.exists():
            os.replace(path, original)
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def lock_path(folder: Path) -> Path:
    return Path(folder).with_name(f".{Path(folder).name}.lock")


@contextmanager
def folder_lock(folder: Path):
    """Hold the lock of `folder` (the file `.NAME.lock` beside it, holding "PID HOST")
    for the block. A live holder: EdgembError naming its process id. The lock is an
    flock, which the kernel drops when its holder dies: a dead holder's lock is free."""
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").split()
            os.close(fd)
            pid, host = (holder + ["?", "?"])[:2]
            raise EdgembError(f"{folder} is in use by process {pid} on {host}: wait for it to finish "
                              "or stop it, then try again") from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # its last holder removed the file as we opened it: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
