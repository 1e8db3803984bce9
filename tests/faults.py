"""Fault injection: start a command, SIGKILL it at a chosen moment, and check what it left.

Shared by tests/test_faults.py and benchmarks/crash_export.py. Every kill and every
invariant check is counted in TALLY (the test session prints it at the end)."""
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "EDGEMB_FAULT_MARKER"  # every process a command starts inherits it (unless given a clean environment)
TEMPORARY_KINDS = (".partial-", ".tmp-", ".old-")


@dataclass
class Tally:
    seed: int | None = None
    kills: int = 0
    checks: int = 0
    failures: list = field(default_factory=list)

    def check(self, ok: bool, what: str) -> bool:
        self.checks += 1
        if not ok:
            self.failures.append(what)
        return ok


TALLY = Tally()


def fault_seed() -> int:
    """EDGEMB_FAULT_SEED replays a run; otherwise a fresh seed, printed with the results."""
    if TALLY.seed is None:
        TALLY.seed = int(os.environ.get("EDGEMB_FAULT_SEED") or random.SystemRandom().randrange(10**6))
    return TALLY.seed


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) from /proc, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[0], int(fields[19])


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> set[tuple[int, int]]:
    """(pid, start time) of every living process below `pid`."""
    children = {}
    for p in all_pids():
        stat = proc_stat(p)
        if stat and stat[1] != "Z":
            children.setdefault(stat[0], []).append((p, stat[2]))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def still_alive(processes: set[tuple[int, int]]) -> set[tuple[int, int]]:
    alive = set()
    for pid, start in processes:
        stat = proc_stat(pid)
        if stat and stat[2] == start and stat[1] != "Z":
            alive.add((pid, start))
    return alive


def marked(marker: str) -> set[int]:
    """Processes whose environment carries this marker."""
    found = set()
    needle = f"{MARKER}={marker}".encode()
    for p in all_pids():
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.add(p)
        except OSError:
            pass
    return found


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Command:
    """A command running in its own session, its stderr in a file we can watch."""

    def __init__(self, argv: list, log: Path, env: dict | None = None, cwd: Path | None = None):
        self.marker = uuid.uuid4().hex
        self.log = Path(log)
        self.argv = [str(a) for a in argv]
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd,
                                         env={**(env or os.environ), MARKER: self.marker}, start_new_session=True)
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, condition, timeout: float = 300) -> bool:
        """Poll `condition()` until true; False if the command ended first or time ran out."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.running():
            if condition():
                return True
            time.sleep(0.05)
        return False

    def child_running(self, word: str) -> bool:
        return any(word in command_line(p) for p, _ in descendants(self.pid))

    def kill(self, settle: float = 10) -> dict | None:
        """SIGKILL the command itself (not its process group: its children must go on their own),
        wait, and count what survives. None if it had already finished."""
        if not self.running():
            return None
        below = descendants(self.pid)
        at = time.monotonic() - self.started
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()
        end = time.monotonic() + settle
        survivors = still_alive(below) | {(p, 0) for p in marked(self.marker)}
        while survivors and time.monotonic() < end:
            time.sleep(0.1)
            survivors = still_alive(below) | {(p, 0) for p in marked(self.marker)}
        TALLY.kills += 1
        names = sorted(command_line(p)[:120] for p, _ in survivors)
        for p, _ in survivors:  # do not leave them running for the rest of the session
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        TALLY.check(not survivors, f"{len(survivors)} processes outlived killed pid {self.pid}: {names}")
        return {"pid": self.pid, "at_s": round(at, 2), "children_at_kill": len(below),
                "survivors": len(survivors), "survivor_commands": names}

    def finish(self, timeout: float = 900) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


def temporaries(folder: Path) -> list[Path]:
    """edgemb's temporary siblings (.NAME.partial-PID-…, .NAME.tmp-PID-…, .NAME.old-PID-…, locks) in folder."""
    if not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir() if p.name.startswith(".") and
                  (any(k in p.name for k in TEMPORARY_KINDS) or p.name.endswith(".lock")))


def dead_owners_temporaries(folder: Path, prefix: str) -> list[Path]:
    """Temporaries named `.PREFIX.<kind>-PID-…` in a shared folder (/tmp) whose owner is dead."""
    from edge_mobilenet.processes import pid_alive

    found = []
    for path in Path(folder).glob(f".{prefix}.*"):
        kind, _, rest = path.name[len(prefix) + 2:].partition("-")
        pid = rest.split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            found.append(path)
    return found


def check_complete(folder: Path) -> list[str]:
    """Open every file in folder as what its name says: models load, JSON parses. Returns problems."""
    problems = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        try:
            if path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix in (".onnx", ".tflite"):
                from edge_mobilenet.runtime import load_runner
                load_runner(path)
            elif path.suffix == ".pt":
                import torch
                torch.load(path, weights_only=True)
            elif path.suffix == ".png":
                from PIL import Image
                Image.open(path).load()
        except Exception as e:  # any failure to open is what this check is for
            problems.append(f"{path.name}: {type(e).__name__}: {str(e)[:200]}")
        TALLY.check(not problems or not problems[-1].startswith(path.name), f"{path} is incomplete")
    return problems


def edgemb_argv(*args) -> list[str]:
    return [sys.executable, "-m", "edge_mobilenet.cli", *[str(a) for a in args]]
