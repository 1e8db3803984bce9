import subprocess
import sys
from pathlib import Path

import pytest

# A small MobileNetV2 trained for real on Fashion-MNIST: a randomly initialised
# network is meaningless for int8 parity (its activations collapse with depth).
# About 50 s on 2 cores; reaches ~79% test top-1.
FASHION_RUN_ARGS = ["--data", "fashion-mnist", "--arch", "mobilenet_v2", "--alpha", "0.35",
                    "--resolution", "32", "--epochs", "4", "--train-subset", "20000", "--min-crop-scale", "0.8",
                    "--seed", "0"]


@pytest.fixture(scope="session")
def fashion_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fashion") / "run"
    result = subprocess.run([sys.executable, "-m", "edge_mobilenet.cli", "train", *FASHION_RUN_ARGS,
                             "--out", str(out)], capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def pytest_terminal_summary(terminalreporter):
    """The fault-injection suite's figures (tests/test_faults.py), when it ran."""
    from tests.faults import TALLY

    if TALLY.kills or TALLY.checks:
        terminalreporter.write_line(f"fault injection: {TALLY.kills} SIGKILLs, {TALLY.checks} invariant checks, "
                                    f"{len(TALLY.failures)} failed (EDGEMB_FAULT_SEED={TALLY.seed})")
        for failure in TALLY.failures:
            terminalreporter.write_line(f"  failed: {failure}")
