"""Where a model runs: this machine, a board over SSH, or an emulated ARM64 (QEMU).

Every target runs the same self-contained runner_script.py next to the model,
in a process of its own, so latency and peak memory are the model's own:

    target = get_target("arm64")                # QEMU here, native on an aarch64 host
    result = target.run(Path("model.int8.tflite"), inputs, threads=1, runs=50, warmup=5)
    result["latency_ms"], result["outputs"], result["peak_memory_bytes"], result["op_profile"]

PyTorch models (a run directory or .pt) run on this machine only, through
torch_eager.py, which speaks runner_script.py's command line and JSON.
"""
import base64
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import numpy as np

from ..errors import EdgembError
from ..io import owned_prefix, sweep_stale
from ..processes import dies_with_parent
from . import arm64, runner_script

RUNNER = Path(runner_script.__file__)
INPUTS_FOLDER = "edgemb-inputs"
WATCH_PARENT = "--exit-with-stdin"  # the runner stops when its stdin (a pipe from us, over SSH too) closes
TORCH_RUNNER = f"{__package__}.torch_eager"  # a module name: importing it here would import torch
DEVICES = ("cpu", "arm64")
DEFAULT_TIMEOUT = 900.0  # seconds for one model on one target; emulation is slow
CONNECT_TIMEOUT = 10  # seconds for SSH to connect and exchange banners
ARM64_ARCHS = ("aarch64", "arm64")
# Why a .pte does not run on ARM64 targets yet (checked with executorch 1.4.1).
NO_ARM64_PTE = ("an aarch64 executorch wheel exists, but its runtime (portable_lib) links libtorch, so the "
                "ARM64 Python would need torch for aarch64 as well; edgemb's ARM64 setup (setup-arm64) "
                "installs only numpy, LiteRT and ONNX Runtime. Benchmark the .tflite or .onnx there")


def model_format(model: Path) -> str:
    return ".pt" if model.is_dir() else model.suffix


class Target:
    """Subclasses set name and machine and implement execute(); `formats` are the
    model suffixes it runs (".pt" also stands for a run directory)."""
    name: str
    machine: dict
    timeout: float
    formats = (".tflite", ".onnx")

    def check(self, model: Path) -> None:
        """Refuse, before any work, a model this target cannot run."""
        if model_format(model) not in self.formats:
            if model_format(model) == ".pt":
                raise EdgembError(f"{model}: PyTorch models run on this machine only; on {self.name} "
                                  f"({self.machine.get('how')}) benchmark the exported .tflite or .onnx")
            if model_format(model) == ".pte":
                raise EdgembError(f"{model}: .pte models run on this machine only: {NO_ARM64_PTE}")
            raise EdgembError(f"{model}: {self.name} runs {', '.join(self.formats)} models, "
                              f"not {model.suffix or 'this'}")

    def run(self, model: Path, inputs: np.ndarray, threads: int = 1, runs: int = 50, warmup: int = 5,
            profile_ops: bool = False) -> dict:
        """Run `inputs` (N x the model's input shape without batch) once each for their
        outputs, then time `runs` invocations of the first after `warmup`."""
        model = Path(model)
        self.check(model)
        if not model.exists():
            raise EdgembError(f"{model} does not exist")
        if threads < 1 or runs < 1 or warmup < 0:
            raise EdgembError(f"threads and runs must be at least 1 and warmup at least 0, "
                              f"got {threads}, {runs}, {warmup}")
        options = ["--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
        if profile_ops:
            options.append("--profile-ops")
        # Named after this process: a killed bench's folder is removed by the next one.
        sweep_stale(tempfile.gettempdir(), INPUTS_FOLDER)
        with tempfile.TemporaryDirectory(prefix=owned_prefix(INPUTS_FOLDER, "partial")) as tmp:
            inputs_path = Path(tmp) / "inputs.npy"
            np.save(inputs_path, np.ascontiguousarray(inputs))
            proc = self.execute(model.resolve(), inputs_path, options, time.monotonic() + self.timeout)
        return self.parse_result(proc, model)

    def execute(self, model: Path, inputs: Path, options: list[str], deadline: float) -> subprocess.CompletedProcess:
        raise NotImplementedError

    def parse_result(self, proc: subprocess.CompletedProcess, model: Path) -> dict:
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise EdgembError(f"{model.name} on {self.name}: the runner {died(proc.returncode)}: "
                              f"{last_line(proc.stderr)}{self.crash_hint(proc.returncode)}")
        result = json.loads(lines[-1])
        if "error" in result:
            raise EdgembError(f"{model}: {result['error']}")
        outputs = result["outputs"]
        result["outputs"] = np.frombuffer(base64.b64decode(outputs["float32_base64"]),
                                          np.float32).reshape(outputs["shape"]).copy()
        return result

    def crash_hint(self, returncode: int) -> str:
        return ""


class LocalTarget(Target):
    """This machine, in a subprocess of the host's Python."""
    formats = (".tflite", ".onnx", ".pte", ".pt")

    def __init__(self, name: str, timeout: float = DEFAULT_TIMEOUT):
        self.name, self.timeout = name, timeout
        self.machine = {**runner_script.machine_info(), "emulated": False, "how": "native"}

    def execute(self, model, inputs, options, deadline):
        script = ["-m", TORCH_RUNNER] if model_format(model) == ".pt" else [str(RUNNER)]
        return run_process([sys.executable, *script, str(model), str(inputs), *options],
                           deadline, f"{model.name} on this machine", cwd=inputs.parent)


class QemuTarget(Target):
    """ARM64 emulated here with QEMU user mode (arm64.py provisions it)."""

    def __init__(self, cpu: str, timeout: float = DEFAULT_TIMEOUT, progress=None):
        self.name, self.cpu, self.timeout = "arm64", cpu, timeout
        self.env = arm64.provision(progress=progress)
        versions = self.env.versions
        self.machine = {"cpu": f"{arm64.CPUS[cpu].name} (emulated)", "cores": os.cpu_count(), "arch": "aarch64",
                        "python": versions["python"],
                        "runtimes": {"tflite": f"ai_edge_litert {versions['ai-edge-litert']}",
                                     "onnx": f"onnxruntime {versions['onnxruntime']}"},
                        "emulated": True, "how": "qemu", "qemu_cpu": cpu, "qemu": versions["qemu"],
                        "host_cpu": runner_script.machine_info()["cpu"]}

    def execute(self, model, inputs, options, deadline):
        # In the inputs' temporary folder: a crashing QEMU may leave a core file where it runs.
        return run_process(self.env.command(self.cpu, [str(RUNNER), str(model), str(inputs), *options,
                                                       WATCH_PARENT]),
                           deadline, f"{model.name} on emulated {self.cpu}", env=self.env.environment(),
                           cwd=inputs.parent)

    def crash_hint(self, returncode):
        if returncode == -signal.SIGILL:
            return f" (an instruction the emulated {self.cpu} lacks: the cpuinfo QEMU shows and -cpu disagree)"
        return ""


class SshTarget(Target):
    """A machine reached over SSH: the model, the inputs and the runner are copied
    to a temporary folder there and run with its Python."""

    def __init__(self, name: str, host: str, timeout: float = DEFAULT_TIMEOUT, ssh_options=(),
                 python: str = "python3"):
        self.name, self.host, self.timeout, self.python = name, host, timeout, python
        self.destination, self.port = parse_host(host)
        # ssh keeps the first value it is given for an option: the caller's come first.
        self.ssh_options = [*ssh_options, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
                            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        probe = self.ssh(f"{shlex.quote(python)} - --machine", time.monotonic() + min(timeout, 120), "inspecting",
                         stdin=RUNNER.read_text())
        if probe.returncode != 0 or not probe.stdout.strip().startswith("{"):
            raise EdgembError(f"{host} has no usable {python} with numpy: {last_line(probe.stderr)}")
        self.machine = {**json.loads(probe.stdout), "emulated": False, "how": "ssh", "host": host}
        if name == "arm64" and self.machine["arch"] not in ARM64_ARCHS:
            raise EdgembError(f"{host} is {self.machine['arch']}, not ARM64: use --device cpu for it")

    def ssh(self, command: str, deadline: float, what: str, stdin: str | None = None):
        port = ["-p", str(self.port)] if self.port else []
        proc = run_process(["ssh", *self.ssh_options, *port, self.destination, command], deadline,
                           f"{what} {self.host} over SSH", stdin=stdin)
        if proc.returncode == 255:  # ssh's own failure: the connection, not the command
            raise EdgembError(f"cannot reach {self.host} over SSH: {last_line(proc.stderr)}")
        return proc

    def execute(self, model, inputs, options, deadline):
        folder = self.ssh("mktemp -d /tmp/edgemb-bench-XXXXXX", deadline, "preparing").stdout.strip()
        if not folder.startswith("/tmp/edgemb-bench-"):
            raise EdgembError(f"cannot make a temporary folder on {self.host}")
        port = ["-P", str(self.port)] if self.port else []
        copy = run_process(["scp", "-q", *self.ssh_options, *port, str(model), str(inputs), str(RUNNER),
                            f"{self.destination}:{folder}/"], deadline, f"copying {model.name} to {self.host}")
        if copy.returncode != 0:
            self.ssh(f"rm -rf {folder}", deadline, "cleaning up")
            raise EdgembError(f"cannot copy {model.name} to {self.host}: {last_line(copy.stderr)}")
        # `timeout` on the board too: a run killed here would otherwise go on there.
        seconds = max(1, int(deadline - time.monotonic()))
        command = " ".join(shlex.quote(a) for a in [self.python, RUNNER.name, model.name, inputs.name, *options,
                                                    WATCH_PARENT])
        # The folder goes however the shell ends: sshd hangs it up when the connection drops.
        return self.ssh(f"trap 'cd / && rm -rf {folder}' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; "
                        f"cd {folder} && timeout {seconds} {command}", deadline, "running on")


HOST = re.compile(r"(?:ssh://)?(?P<destination>(?:[^@\s:/]+@)?[^@\s:/]+)(?::(?P<port>\d{1,5}))?")


def parse_host(host: str) -> tuple[str, int | None]:
    """user@machine, user@machine:port or ssh://user@machine:port -> (user@machine, port)."""
    match = HOST.fullmatch(host)
    if not match:
        raise EdgembError(f"--host {host!r}: expected user@machine or user@machine:port")
    return match["destination"], int(match["port"]) if match["port"] else None


def run_process(argv: list[str], deadline: float, what: str, env: dict | None = None,
                stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run argv to completion or the deadline. It cannot outlive us: Linux kills it when
    we die (parent-death signal), and its stdin is a pipe from us that stays open until
    it ends (after `stdin`, if given, is written), so a runner told --exit-with-stdin
    stops when we are gone, on a board over SSH as well."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env, cwd=cwd,
                                    preexec_fn=dies_with_parent())
        except FileNotFoundError:
            raise EdgembError(f"{argv[0]} is not installed (needed for {what})") from None
        with proc:
            try:
                if stdin is not None:
                    with suppress(BrokenPipeError):  # it exited without reading: its status says why
                        proc.stdin.write(stdin.encode())
                        proc.stdin.close()
                proc.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                proc.kill()
                raise EdgembError(f"{what} did not finish in time (give it longer with a larger timeout)") from None
            except BaseException:
                proc.kill()
                raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, proc.returncode, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def died(returncode: int) -> str:
    if returncode == 124:  # from `timeout` on the board
        return "did not finish in time (give it longer with a larger timeout)"
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode} and no result"


def get_target(device: str, host: str | None = None, cpu: str = arm64.DEFAULT_CPU,
               timeout: float = DEFAULT_TIMEOUT, ssh_options=(), python: str = "python3",
               progress=None) -> Target:
    """"cpu" or "arm64". With host: that machine over SSH (ssh_options such as
    ("-F", config) go to ssh and scp; python is the board's interpreter). Else
    this machine, except "arm64" on a non-ARM host: emulated with QEMU as `cpu`,
    provisioned on first use (progress(done, total, description) hears about it)."""
    if device not in DEVICES:
        raise EdgembError(f"unknown device {device!r}: choose from {', '.join(DEVICES)}")
    if host:
        return SshTarget(device, host, timeout, ssh_options, python)
    if device == "cpu" or platform.machine() in ARM64_ARCHS:
        return LocalTarget(device, timeout)
    arm64.check_cpu(cpu)
    return QemuTarget(cpu, timeout, progress)
