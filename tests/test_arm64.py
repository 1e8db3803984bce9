"""ARM64 emulated with QEMU user mode: provisioning (`edgemb setup-arm64`), and
parity of the emulated runtimes with this machine's on real models. The tests
that provision or emulate are slow; provisioning happens once, in the normal
cache folder ($EDGEMB_CACHE/arm64 or ~/.cache/edgemb/arm64)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_mobilenet.bench import arm64
from edge_mobilenet.bench.targets import RUNNER, get_target
from edge_mobilenet.errors import EdgembError
from tests.test_targets import EGYPTIAN_CAT, ESPRESSO, imagenet_onnx, keras_models, sshd  # noqa: F401 (fixtures)

EDGEMB = Path(sys.executable).with_name("edgemb")
needs_x86 = pytest.mark.skipif(os.uname().machine != "x86_64", reason="emulation is for x86 hosts")


def features(cpu: str) -> set[str]:
    lines = arm64.cpuinfo(cpu, 2).splitlines()
    return set(next(line for line in lines if line.startswith("Features")).split(":")[1].split())


def test_cpuinfo_describes_the_emulated_cpu():
    n1, a72 = arm64.cpuinfo("neoverse-n1", 3), arm64.cpuinfo("cortex-a72", 3)
    assert n1.count("processor\t:") == 3
    assert "CPU part\t: 0xd0c" in n1 and "CPU part\t: 0xd08" in a72
    # dot product and LSE atomics: N1 has them, A72 does not; kernels picked from them must run
    assert {"asimddp", "atomics"} <= features("neoverse-n1")
    assert not {"asimddp", "atomics"} & features("cortex-a72")


def test_missing_qemu_is_one_clear_line(tmp_path, monkeypatch):
    env = {**os.environ, "PATH": str(tmp_path), "EDGEMB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([str(EDGEMB), "setup-arm64"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: qemu-aarch64-static not found: install it with `apt-get install qemu-user-static` "
        "(or pass --host to run on a real ARM64 board)"]
    assert not (tmp_path / "cache").exists()

    if os.uname().machine == "x86_64":
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(EdgembError, match="apt-get install qemu-user-static"):
            get_target("arm64")


@pytest.fixture(scope="session")
def arm64_env():
    if shutil.which(arm64.QEMU) is None:
        pytest.fail("qemu-aarch64-static is missing: apt-get install qemu-user-static (.ci/run installs it)")
    steps = []
    env = arm64.provision(progress=lambda done, total, step: steps.append(step))
    return {"env": env, "steps": steps}


@pytest.mark.slow
@needs_x86
def test_setup_is_cached_and_one_command(arm64_env):
    env = arm64_env["env"]
    assert (env.root / arm64.READY_FILE).is_file()
    assert set(env.versions) >= {"python", "numpy", "ai-edge-litert", "onnxruntime", "qemu"}
    again = []
    assert arm64.provision(progress=lambda *step: again.append(step)) == env
    assert again == []  # a ready cache does no work

    proc = subprocess.run([str(EDGEMB), "setup-arm64"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"ARM64 environment ready in {env.root}" in proc.stdout
    assert f"ai-edge-litert {env.versions['ai-edge-litert']}" in proc.stdout


@pytest.mark.slow
@needs_x86
@pytest.mark.parametrize("cpu", ["neoverse-n1", "cortex-a72"])
def test_int8_litert_is_bit_identical_to_x86(arm64_env, keras_models, cpu):
    pixels = keras_models["pixels"]
    here = get_target("cpu").run(keras_models["int8"], pixels, runs=2, warmup=1)
    target = get_target("arm64", cpu=cpu)
    emulated = target.run(keras_models["int8"], pixels, runs=2, warmup=1, profile_ops=True)

    np.testing.assert_array_equal(emulated["outputs"], here["outputs"])
    assert len(set(here["outputs"].argmax(1))) > 3  # a trained model: the inputs get different answers
    assert target.machine["emulated"] is True and target.machine["how"] == "qemu"
    assert target.machine["qemu_cpu"] == cpu and target.machine["arch"] == "aarch64"
    assert emulated["interpreter"] == f"ai_edge_litert {arm64_env['env'].versions['ai-edge-litert']}"
    assert len(emulated["latency_ms"]) == 2 and emulated["peak_rss_bytes"] > 0
    assert sum("DWConv" in entry["op"] for entry in emulated["op_profile"]) == 2


@pytest.mark.slow
@needs_x86
def test_cpuinfo_that_does_not_match_the_cpu_is_reported_as_such(arm64_env, keras_models, tmp_path):
    """Dot-product kernels chosen from a Neoverse-N1 cpuinfo, run on an emulated Cortex-A72: SIGILL."""
    target = get_target("arm64", cpu="cortex-a72")
    np.save(tmp_path / "inputs.npy", keras_models["pixels"])
    argv = target.env.command("neoverse-n1", [str(RUNNER), str(keras_models["int8"]), str(tmp_path / "inputs.npy")])
    argv[argv.index("-cpu") + 1] = "cortex-a72"
    crash = subprocess.run(argv, capture_output=True, text=True, env=target.env.environment(), cwd=tmp_path)
    with pytest.raises(EdgembError, match=r"the runner was killed by SIGILL: .*Illegal instruction.* "
                                          r"\(an instruction the emulated cortex-a72 lacks"):
        target.parse_result(crash, keras_models["int8"])


@pytest.mark.slow
@needs_x86
def test_fp32_litert_is_within_1e_5_of_x86(arm64_env, keras_models):
    inputs = keras_models["normalized"]
    here = get_target("cpu").run(keras_models["fp32"], inputs, runs=1, warmup=0)
    emulated = get_target("arm64").run(keras_models["fp32"], inputs, runs=1, warmup=0)
    np.testing.assert_allclose(emulated["outputs"], here["outputs"], rtol=0, atol=1e-5)
    assert (emulated["outputs"].argmax(1) == here["outputs"].argmax(1)).all()


@pytest.mark.slow
@needs_x86
def test_onnx_runs_emulated_with_op_profile(arm64_env, imagenet_onnx):
    emulated = get_target("arm64").run(imagenet_onnx["path"], imagenet_onnx["inputs"], runs=1, warmup=0,
                                       profile_ops=True)
    here = get_target("cpu").run(imagenet_onnx["path"], imagenet_onnx["inputs"], runs=1, warmup=0)

    np.testing.assert_allclose(emulated["outputs"], here["outputs"], rtol=0, atol=1e-5)
    assert list(emulated["outputs"].argmax(1)) == [EGYPTIAN_CAT, ESPRESSO]
    assert emulated["interpreter"] == f"onnxruntime {arm64_env['env'].versions['onnxruntime']}"
    assert len([e for e in emulated["op_profile"] if e["op"] in ("Conv", "FusedConv")]) == 52


@pytest.mark.slow
@needs_x86
def test_ssh_to_an_arm64_board(arm64_env, sshd, keras_models, tmp_path):
    """The board's Python is the emulated aarch64 one: the SSH path end to end on ARM64."""
    board_python = tmp_path / "board-python3"
    env = arm64_env["env"]
    command = " ".join(env.command("neoverse-n1", []))
    exports = " ".join(f"{key}={value}" for key, value in env.environment().items())
    board_python.write_text(f'#!/bin/sh\nexec env -i {exports} {command} "$@"\n')
    board_python.chmod(0o755)

    target = get_target("arm64", host=sshd["host"], ssh_options=sshd["ssh_options"], python=str(board_python))
    result = target.run(keras_models["int8"], keras_models["pixels"], runs=1, warmup=0)

    assert target.machine["arch"] == "aarch64" and target.machine["how"] == "ssh"
    assert target.machine["cpu"] == "Neoverse-N1"
    here = get_target("cpu").run(keras_models["int8"], keras_models["pixels"], runs=1, warmup=0)
    np.testing.assert_array_equal(result["outputs"], here["outputs"])
