"""Crash consistency, fast: parent-death signals, the folder lock and the sweep of stale
temporaries, each against real processes killed with SIGKILL."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_mobilenet.errors import EdgembError
from edge_mobilenet.io import atomic_dir, folder_lock, sweep_stale, write_text_atomic
from edge_mobilenet.processes import pid_alive

PYTHON = [sys.executable, "-c"]


def wait_dead(pid: int, seconds: float = 10) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


# A parent that starts a sleeping grandchild (with or without the parent-death signal),
# prints its pid and waits to be killed.
PARENT = """
import subprocess, sys, time
from edge_mobilenet.processes import dies_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         preexec_fn=dies_with_parent() if sys.argv[1] == "yes" else None)
print(child.pid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("protected", [True, False])
def test_child_dies_with_its_killed_parent(protected):
    parent = subprocess.Popen([*PYTHON, PARENT, "yes" if protected else "no"], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    try:
        # Without the signal the grandchild outlives its parent: the test can tell.
        assert wait_dead(child, 5) is protected
    finally:
        if pid_alive(child):
            os.kill(child, signal.SIGKILL)


HOLDER = """
import sys, time
from edge_mobilenet.io import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    folder = tmp_path / "bundle"
    holder = subprocess.Popen([*PYTHON, HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(EdgembError, match=f"in use by process {holder.pid} "):
            with folder_lock(folder):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / ".bundle.lock").read_text().split()[0] == str(holder.pid)  # left by the dead holder
    with folder_lock(folder):
        assert (tmp_path / ".bundle.lock").read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / ".bundle.lock").exists()


def test_sweep_removes_dead_owners_temporaries_only(tmp_path):
    dead = dead_pid()
    stale_dir = tmp_path / f".bundle.partial-{dead}-abcd1234"
    stale_dir.mkdir()
    (stale_dir / "model.onnx").write_bytes(b"half")
    stale_file = tmp_path / f".history.json.tmp-{dead}-x1y2"
    stale_file.write_text("{")
    live = tmp_path / f".bundle.partial-{os.getpid()}-efgh5678"
    live.mkdir()
    other = tmp_path / f".other.partial-{dead}-zzzz"
    other.mkdir()
    assert sorted(sweep_stale(tmp_path, "bundle")) == [stale_dir]
    assert live.is_dir() and other.is_dir() and stale_file.is_file()
    assert sorted(sweep_stale(tmp_path)) == sorted([other, stale_file])
    assert live.is_dir()


def test_sweep_restores_a_replaced_folder_whose_replacement_was_killed(tmp_path):
    """Killed between the two renames of a forced replace: the previous folder comes back."""
    old = tmp_path / f".bundle.old-{dead_pid()}-abcd1234"
    old.mkdir()
    (old / "report.json").write_text("{}")
    assert sweep_stale(tmp_path) == []
    assert (tmp_path / "bundle" / "report.json").read_text() == "{}" and not old.exists()


def test_temporaries_carry_the_owner_pid(tmp_path):
    with atomic_dir(tmp_path / "bundle") as tmp:
        assert tmp.name.startswith(f".bundle.partial-{os.getpid()}-")
        write_text_atomic(tmp / "a.txt", "x")
        assert sweep_stale(tmp_path) == []  # our own: alive
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


@pytest.fixture
def small_disk(tmp_path):
    """A real filesystem that fills up: a 24 MB tmpfs (mounting needs root)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    yield disk
    subprocess.run(["umount", str(disk)])


def fill(disk: Path, leave: int) -> None:
    """Fill the disk up to `leave` free bytes."""
    stat = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))


TINY_TRAIN = [sys.executable, "-m", "edge_mobilenet.cli", "train", "--alpha", "0.35", "--resolution", "32",
              "--train-subset", "1024", "--batch-size", "64", "--seed", "1", "--epochs", "2"]


def one_epoch_of_two(run: Path) -> None:
    """A run killed during its second epoch: resuming it has an epoch to write."""
    proc = subprocess.Popen([*TINY_TRAIN, "--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 300
    while not (run / "last.pt").is_file() and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    proc.kill()
    assert proc.wait() == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]


@pytest.mark.parametrize("site", ["first write", "checkpoint"])
def test_disk_full_during_training_keeps_the_last_epoch(small_disk, site):
    run = small_disk / "run"
    one_epoch_of_two(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    # "checkpoint": room for everything an epoch writes except the checkpoint (last.pt, the largest)
    fill(small_disk, 0 if site == "first write" else len(before["last.pt"]) - 64 * 1024)
    result = subprocess.run([*TINY_TRAIN[:4], "--out", str(run), "--resume"], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and "no space left on device" in lines[-1].lower(), result.stderr[-2000:]
    assert "is intact" in lines[-1] and "Traceback" not in result.stderr
    assert {p.name for p in run.iterdir()} == set(before)  # no temporary file of the failed epoch left
    assert (run / "last.pt").read_bytes() == before["last.pt"]  # the checkpoint resuming starts from
    for name in ("history.json", "edgemb.json"):
        json.loads((run / name).read_text())  # complete, whichever epoch it records
    (small_disk / "filler").unlink()
    resumed = subprocess.run([*TINY_TRAIN[:4], "--out", str(run), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(json.loads((run / "history.json").read_text())) == 2
