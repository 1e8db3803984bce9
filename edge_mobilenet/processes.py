"""Processes that do not outlive the command that started them, and commands that
stop cleanly on SIGINT/SIGTERM.

    subprocess.run(argv, preexec_fn=dies_with_parent())   # a child: killed when we die
    die_with_parent(parent_pid)                            # inside a worker (DataLoader worker_init_fn)
    with interruptible():                                  # SIGINT/SIGTERM raise Interrupted here
        ...
"""
import ctypes
import os
import signal
import sys
from contextlib import contextmanager

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def die_with_parent(parent: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send this process `sig` when its parent dies (PR_SET_PDEATHSIG), then
    check that the parent (`parent`, the pid it had before the fork; default: the current
    parent) has not already died in between. No-op where prctl does not exist.

    Note: Linux sends it when the parent *thread* that forked us exits: spawn children
    from a thread that lives as long as they should."""
    if _libc is None:
        return
    if parent is None:
        parent = os.getppid()
    if _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl: nobody will send the signal
        os.kill(os.getpid(), sig)


def start_worker_process(parent: int) -> None:
    """First thing in a forked worker (data loader, process pool): die with `parent`, leave
    SIGINT to the parent (which stops the workers itself) and let SIGTERM kill at once. A
    fork inherits the parent's Python handlers, and interruptible()'s would make a worker
    unwind through locks its pool is blocked on."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)


def dies_with_parent(sig: int = signal.SIGKILL):
    """A preexec_fn for subprocess.Popen/run: the child gets `sig` when this process dies.
    The signal survives exec, so it holds for any program (TensorFlow worker, QEMU, ssh)."""
    parent = os.getpid()
    return lambda: die_with_parent(parent, sig)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived inside `interruptible()`: unwinds like KeyboardInterrupt
    (finally blocks and context managers clean up), then the command exits 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


@contextmanager
def interruptible(signals=(signal.SIGINT, signal.SIGTERM)):
    """Within the block, the first SIGINT or SIGTERM raises Interrupted in the main thread;
    a second one during the clean-up is ignored so that the clean-up can finish. A child
    started with subprocess.run is killed by run() as the exception passes through it."""
    def handler(signum, frame):
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)

