"""Fault injection: `edgemb export`, `edgemb train` and `edgemb bench --device arm64`
killed with SIGKILL at seeded random moments. After each kill: no process it started
survives; once the next command has run, no partial output is left; every file present
is complete; and training resumed after the kills ends bit-identical to an
uninterrupted run. EDGEMB_FAULT_SEED=N replays a run; the seed, the kills and the
checks are printed at the end of the test session."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from tests.faults import (TALLY, Command, check_complete, dead_owners_temporaries, descendants, edgemb_argv,
                          fault_seed, still_alive, temporaries)

from tests.test_targets import sshd  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

TINY_RUN = ["--data", "fashion-mnist", "--arch", "mobilenet_v2", "--alpha", "0.35", "--resolution", "32",
            "--train-subset", "768", "--batch-size", "64", "--seed", "3"]
TRAIN_EPOCHS = 3


def rng(name: str) -> random.Random:
    return random.Random(f"{fault_seed()}-{name}")


def replay(message: str) -> str:
    return f"{message} (replay with EDGEMB_FAULT_SEED={fault_seed()})"


def train_argv(out: Path, *extra) -> list[str]:
    return edgemb_argv("train", *TINY_RUN, "--epochs", TRAIN_EPOCHS, "--out", out, *extra)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny trained run, and how long its training took (the reference for kill moments)."""
    out = tmp_path_factory.mktemp("faults") / "reference"
    start = time.monotonic()
    result = subprocess.run(train_argv(out), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    (out.parent / "seconds").write_text(str(time.monotonic() - start))
    return out


def export_argv(run: Path, out: Path, *extra) -> list[str]:
    return edgemb_argv("export", run, "--int8", "--calib-data", "fashion-mnist", "--calib-samples", "100",
                       "--val-samples", "100", "--out", out, *extra)


def test_killed_exports_leave_no_process_and_no_litter(tiny_run, tmp_path):
    """Four kills at different moments, each checked for survivors; then an export that
    finishes, after which nothing partial is left and every file is complete."""
    r = rng("export")
    out = tmp_path / "bundle"
    moments = [  # (what, wait for this, then up to this many seconds more)
        ("starting up", lambda c: True, 3.0),
        ("writing the partial folder", lambda c: bool(list(tmp_path.glob(".bundle.partial-*"))), 1.0),
        ("TensorFlow worker converting", lambda c: c.child_running("tflite_worker"), 3.0),
        ("validating", lambda c: "model.tflite" in c.stderr() and not c.child_running("tflite_worker"), 1.0),
    ]
    kills = []
    for n, (what, condition, spread) in enumerate(moments):
        command = Command(export_argv(tiny_run, out), tmp_path / f"export-{n}.log")
        assert command.wait_for(lambda: condition(command)), replay(f"the export ended before {what}: "
                                                                    f"{command.stderr()[-1500:]}")
        time.sleep(r.uniform(0, spread))
        killed = command.kill()
        assert killed is not None, replay(f"the export finished before the kill while {what}")
        assert killed["survivors"] == 0, replay(f"killed while {what}: {killed}")
        kills.append(killed)
    assert not out.exists()
    assert TALLY.check(bool(temporaries(tmp_path)), "the kills left something for the sweep")  # the test can fail

    # A concurrent export into the same folder is refused with the holder's pid; its partial folder stays.
    first = Command(export_argv(tiny_run, out), tmp_path / "export-live.log")
    assert first.wait_for(lambda: bool([p for p in tmp_path.glob(f".bundle.partial-{first.pid}-*")]))
    second = subprocess.run(export_argv(tiny_run, out, "--force"), capture_output=True, text=True)
    assert TALLY.check(second.returncode == 1 and f"in use by process {first.pid} " in second.stderr,
                       "a live holder's lock is refused"), second.stderr[-1000:]
    assert TALLY.check(bool(list(tmp_path.glob(f".bundle.partial-{first.pid}-*"))), "a live partial folder stays")
    assert first.finish() == 0, first.stderr()[-2000:]

    assert TALLY.check(temporaries(tmp_path) == [], f"litter after the next export: {temporaries(tmp_path)}"), \
        replay(str(temporaries(tmp_path)))
    assert check_complete(out) == []
    assert {"model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite"} <= {p.name for p in out.iterdir()}


def test_export_interrupted_by_sigterm_says_nothing_was_written(tiny_run, tmp_path):
    out = tmp_path / "bundle"
    moments = {signal.SIGTERM: lambda c: c.child_running("tflite_worker"),  # with a child to stop
               signal.SIGINT: lambda c: bool(list(tmp_path.glob(".bundle.partial-*")))}  # writing ONNX
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        command = Command(export_argv(tiny_run, out), tmp_path / f"export-{sig.name}.log")
        assert command.wait_for(lambda: moments[sig](command))
        below = descendants(command.pid)
        os.kill(command.pid, sig)
        assert command.finish(60) == code
        assert command.stderr().strip().splitlines()[-1] == "interrupted: nothing was written"
        time.sleep(0.5)
        assert TALLY.check(not still_alive(below), f"children outlived {sig.name}")
        left = [p.name for p in tmp_path.iterdir() if p.suffix != ".log"]
        assert TALLY.check(left == [], f"{sig.name} left {left}")


def weights(path: Path) -> dict:
    state = torch.load(path, weights_only=True)
    return state.get("model", state) if isinstance(state.get("model"), dict) else state


def test_training_killed_three_times_and_resumed_is_bit_identical(tiny_run, tmp_path):
    r = rng("train")
    out = tmp_path / "run"
    seconds = float((tiny_run.parent / "seconds").read_text())
    kills, argv, attempts = [], train_argv(out), 0
    while len(kills) < 3:
        attempts += 1
        assert attempts <= 8, replay(f"could not land three kills in {attempts} runs: {kills}")
        command = Command(argv, tmp_path / f"train-{attempts}.log")
        time.sleep(r.uniform(0.15, 0.6) * seconds)
        killed = command.kill()
        if killed is None:  # finished first: nothing to resume from here, start again
            assert command.finish() == 0, command.stderr()[-2000:]
            shutil.rmtree(out)
            argv, kills = train_argv(out), []
            continue
        assert killed["survivors"] == 0, replay(str(killed))
        kills.append(killed)
        # Resumable once edgemb.json exists; killed before that, start afresh.
        argv = train_argv(out, "--resume") if (out / "edgemb.json").is_file() else train_argv(out)
        if argv[-1] != "--resume":
            shutil.rmtree(out, ignore_errors=True)
    final = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-2000:]
    assert check_complete(out) == []
    assert TALLY.check(temporaries(out) == [] and temporaries(out.parent) == [],
                       f"litter after resuming: {temporaries(out) + temporaries(out.parent)}")
    for name in ("model.pt", "last.pt"):
        expected, got = weights(tiny_run / name), weights(out / name)
        identical = expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
        assert TALLY.check(identical, f"{name} differs from the uninterrupted run"), replay(f"{name}: {kills}")


@pytest.fixture(scope="module")
def tiny_tflite(tiny_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults-bundle") / "bundle"
    result = subprocess.run(edgemb_argv("export", tiny_run, "--formats", "tflite", "--val-samples", "50",
                                        "--out", out), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "model.tflite"


@pytest.mark.skipif(os.uname().machine != "x86_64" or shutil.which("qemu-aarch64-static") is None,
                    reason="emulated ARM64 needs qemu-aarch64-static on x86")
def test_killed_arm64_bench_leaves_no_qemu_and_no_litter(tiny_tflite, tmp_path):
    from edge_mobilenet.bench import arm64
    arm64.provision()  # once per cache; the kills below are about the benchmark, not provisioning
    r = rng("bench")
    argv = edgemb_argv("bench", tiny_tflite, "--device", "arm64", "--runs", "200", "--warmup", "2",
                       "--json", tmp_path / "bench.json")
    for n in range(2):
        command = Command(argv, tmp_path / f"bench-{n}.log")
        assert command.wait_for(lambda: command.child_running("qemu-aarch64")), command.stderr()[-1500:]
        time.sleep(r.uniform(0, 2.0))
        killed = command.kill()
        assert killed is not None and killed["survivors"] == 0, replay(str(killed))
        assert killed["children_at_kill"] >= 1
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert check_complete(tmp_path) == []
    litter = dead_owners_temporaries(Path(tempfile.gettempdir()), "edgemb-inputs")
    assert TALLY.check(litter == [], f"bench litter in /tmp: {litter}")
    assert TALLY.check(temporaries(tmp_path) == [], f"litter: {temporaries(tmp_path)}")
    assert json.loads((tmp_path / "bench.json").read_text())["results"]


SSH_BENCH = """
import sys
import numpy as np
from edge_mobilenet.bench.targets import get_target
host, config, model = sys.argv[1:]
target = get_target("cpu", host=host, ssh_options=("-F", config), python=sys.executable)
target.run(model, np.zeros((1, 32, 32, 3), np.float32), runs=10**7, warmup=0)
"""


def board_runners() -> set[int]:
    """Runners started by sshd for a bench (not our descendants: the board's own)."""
    from tests.faults import all_pids, command_line
    return {p for p in all_pids() if "runner_script.py" in command_line(p) and "--exit-with-stdin" in command_line(p)}


def test_killed_ssh_bench_stops_the_runner_on_the_board(sshd, tiny_tflite, tmp_path):
    """The bench's ssh client dies with it; the runner on the board sees its stdin close and stops."""
    command = Command([sys.executable, "-c", SSH_BENCH, sshd["host"], sshd["ssh_options"][1], tiny_tflite],
                      tmp_path / "ssh.log")
    assert command.wait_for(lambda: bool(board_runners()), timeout=120), command.stderr()[-1500:]
    runners = board_runners()
    killed = command.kill()
    assert killed is not None and killed["survivors"] == 0, str(killed)
    end = time.monotonic() + 10
    while board_runners() & runners and time.monotonic() < end:
        time.sleep(0.1)
    assert TALLY.check(not board_runners() & runners, "the runner on the board outlived the bench")
    # Known gap (README, Limits): the board's /tmp/edgemb-bench-* folder outlives a killed bench;
    # the shell's exit trap does not run when sshd drops the session. Not asserted until fixed.
