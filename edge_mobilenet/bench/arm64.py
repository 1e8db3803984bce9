"""An emulated ARM64 machine for benchmarks on x86: an aarch64 Python 3.11 with
numpy, LiteRT and ONNX Runtime in a cache folder, run by QEMU user mode
(`qemu-aarch64-static -L ROOT -cpu CPU`, no binfmt needed).

Nothing is installed on the host system: Debian's arm64 packages are fetched
with a private apt state (lists and downloads inside the cache) and unpacked
with dpkg-deb; the aarch64 wheels come from the host's pip. The cache folder
is $EDGEMB_CACHE/arm64, by default ~/.cache/edgemb/arm64:

    sysroot/            libc, libstdc++, Python 3.11 and the libraries it needs
    site-packages/      numpy, ai-edge-litert, onnxruntime (aarch64 wheels)
    cpus/CPU/           the root QEMU sees for one CPU: links into sysroot/
                        plus a /proc/cpuinfo that matches that CPU
    edgemb-arm64.json   the versions; written last, so it means "ready"
"""
import fcntl
import getpass
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgembError
from ..io import atomic_dir, write_json_atomic, write_text_atomic
from ..processes import dies_with_parent

QEMU = "qemu-aarch64-static"
PYTHON = "usr/bin/python3.11"
READY_FILE = "edgemb-arm64.json"
DEBIAN_PACKAGES = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libexpat1", "libffi8", "libssl3",
                   "libbz2-1.0", "liblzma5", "libuuid1", "python3.11-minimal", "libpython3.11-minimal",
                   "libpython3.11-stdlib"]
WHEELS = ["numpy", "ai-edge-litert", "onnxruntime"]
# ai-edge-litert is only found when manylinux_2_27 is listed.
WHEEL_PLATFORMS = ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64",
                   "manylinux2014_aarch64"]
STEPS = 4 + len(WHEELS)


@dataclass(frozen=True)
class Cpu:
    """What /proc/cpuinfo says about one emulated CPU. The features are exactly the
    hardware capabilities QEMU emulates for it: XNNPACK picks its kernels from
    them, and one listed that QEMU does not emulate (dot product on a Cortex-A72)
    dies with SIGILL."""
    name: str
    variant: int
    part: int
    revision: int
    features: str


CPUS = {
    "neoverse-n1": Cpu("Neoverse-N1", 0x4, 0xd0c, 1, "fp asimd aes pmull sha1 sha2 crc32 atomics fphp asimdhp "
                                                      "cpuid asimdrdm lrcpc dcpop asimddp"),
    "cortex-a72": Cpu("Cortex-A72", 0x0, 0xd08, 3, "fp asimd aes pmull sha1 sha2 crc32 cpuid"),
}
DEFAULT_CPU = "neoverse-n1"


def check_cpu(cpu: str) -> None:
    if cpu not in CPUS:
        raise EdgembError(f"unknown ARM64 CPU {cpu!r}: choose from {', '.join(CPUS)}")


def cpuinfo(cpu: str, cores: int) -> str:
    model = CPUS[cpu]
    processor = ("processor\t: {n}\nBogoMIPS\t: 50.00\nFeatures\t: {f}\nCPU implementer\t: 0x41\n"
                 "CPU architecture: 8\nCPU variant\t: {v:#x}\nCPU part\t: {p:#x}\nCPU revision\t: {r}\n\n")
    return "".join(processor.format(n=n, f=model.features, v=model.variant, p=model.part, r=model.revision)
                   for n in range(cores))


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEMB_CACHE", Path.home() / ".cache" / "edgemb")) / "arm64"


@dataclass(frozen=True)
class Arm64Env:
    """A provisioned cache folder, and how to run its Python under QEMU."""
    root: Path
    versions: dict

    def command(self, cpu: str, args: list[str]) -> list[str]:
        """argv that runs the emulated python3 with `args` on `cpu`."""
        cpu_root = self.cpu_root(cpu)
        return [find_qemu(), "-L", str(cpu_root), "-cpu", cpu, str(self.root / "sysroot" / PYTHON), *args]

    def environment(self) -> dict:
        # A clean environment: the host's PYTHON* and PIP_* variables mean nothing to this Python.
        return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.root),
                "PYTHONPATH": str(self.root / "site-packages"), "PYTHONNOUSERSITE": "1"}

    def cpu_root(self, cpu: str) -> Path:
        """The root QEMU sees for `cpu`; its cpuinfo lists as many cores as this host has."""
        check_cpu(cpu)
        root = self.root / "cpus" / cpu
        (root / "proc").mkdir(parents=True, exist_ok=True)
        for entry in (self.root / "sysroot").iterdir():
            link = root / entry.name
            if not link.is_symlink():
                with suppress(FileExistsError):  # another run made it just now
                    link.symlink_to(Path("..", "..", "sysroot", entry.name))
        text = cpuinfo(cpu, os.cpu_count() or 1)
        info = root / "proc" / "cpuinfo"
        if not info.is_file() or info.read_text() != text:
            write_text_atomic(info, text)
        return root


def find_qemu() -> str:
    path = shutil.which(QEMU)
    if not path:
        raise EdgembError(f"{QEMU} not found: install it with `apt-get install qemu-user-static` "
                          "(or pass --host to run on a real ARM64 board)")
    return path


def load_env(root: Path) -> Arm64Env | None:
    try:
        return Arm64Env(root, json.loads((root / READY_FILE).read_text()))
    except (OSError, ValueError):
        return None


@contextmanager
def locked(path: Path):
    """One provisioning at a time per cache folder, across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def provision(progress=None, force: bool = False, root: Path | None = None) -> Arm64Env:
    """The ready environment, built first if needed. progress(done, total, description)
    is told about each step; a ready cache returns at once, without any."""
    root = root or cache_dir()
    find_qemu()
    if not force and (env := load_env(root)):
        return env
    with locked(root.with_name(root.name + ".lock")):
        if not force and (env := load_env(root)):
            return env  # another process finished it while we waited
        for tool in ("apt-get", "dpkg-deb"):
            if not shutil.which(tool):
                raise EdgembError(f"{tool} not found: provisioning the emulated ARM64 Python needs Debian's "
                                  "apt-get and dpkg-deb (or pass --host to run on a real ARM64 board)")
        with atomic_dir(root, force=True) as building:
            versions = build(building, progress or (lambda done, total, description: None))
            write_json_atomic(building / READY_FILE, versions)
        return Arm64Env(root, versions)


def build(root: Path, progress) -> dict:
    downloads = root / "downloads"
    progress(0, STEPS, "Fetching Debian's arm64 package lists")
    apt = private_apt(downloads / "apt")
    run_tool([*apt, "update"], "apt-get update (arm64)", REGISTRY_HINT)
    progress(1, STEPS, f"Downloading {len(DEBIAN_PACKAGES)} Debian arm64 packages")
    debs = downloads / "debs"
    debs.mkdir(parents=True)
    run_tool([*apt, "download", *[f"{p}:arm64" for p in DEBIAN_PACKAGES]], "apt-get download (arm64)",
             REGISTRY_HINT, cwd=debs)
    progress(2, STEPS, "Unpacking the aarch64 sysroot")
    for deb in sorted(debs.glob("*.deb")):
        run_tool(["dpkg-deb", "-x", str(deb), str(root / "sysroot")], f"dpkg-deb -x {deb.name}", "is the disk full?")
    versions = {}
    for n, name in enumerate(WHEELS):
        progress(3 + n, STEPS, f"Downloading the aarch64 wheel of {name}")
        wheel, versions[name] = download_wheel(name, downloads / "wheels")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(root / "site-packages")
    shutil.rmtree(downloads)
    progress(STEPS - 1, STEPS, "Checking the emulated Python (numpy, LiteRT, ONNX Runtime)")
    env = Arm64Env(root, versions)
    check = subprocess.run(env.command(DEFAULT_CPU, ["-c", IMPORT_CHECK]), capture_output=True, text=True,
                           preexec_fn=dies_with_parent(),
                           env=env.environment(), timeout=600)
    if check.returncode != 0:
        raise EdgembError(f"the emulated Python does not start: {tail(check.stderr)}")
    versions["python"] = check.stdout.strip()
    versions["qemu"] = subprocess.run([find_qemu(), "--version"], capture_output=True,
                                      text=True).stdout.split("\n")[0].removeprefix("qemu-aarch64 version ")
    progress(STEPS, STEPS, "Ready")
    return versions


REGISTRY_HINT = "provisioning needs Debian's package archive (apt) and the Python package index (pip)"
IMPORT_CHECK = ("import platform, numpy, onnxruntime; from ai_edge_litert.interpreter import Interpreter; "
                "assert platform.machine() == 'aarch64'; print(platform.python_version())")


def private_apt(state: Path) -> list[str]:
    """apt-get with its own lists and cache under `state` and arm64 as its only
    architecture: the host's dpkg setup and package lists stay untouched."""
    (state / "lists" / "partial").mkdir(parents=True)
    (state / "cache" / "archives" / "partial").mkdir(parents=True)
    (state / "status").touch()
    options = {"APT::Architecture": "arm64", "APT::Architectures": "arm64",
               "Dir::State::Lists": state / "lists", "Dir::Cache": state / "cache",
               "Dir::State::status": state / "status", "APT::Sandbox::User": getpass.getuser()}
    return ["apt-get", "-q", *[arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]]


def download_wheel(name: str, folder: Path) -> tuple[Path, str]:
    """The aarch64 CPython 3.11 wheel of `name`, at the host's version where one exists."""
    try:
        wanted = [f"{name}=={importlib.metadata.version(name)}", name]
    except importlib.metadata.PackageNotFoundError:
        wanted = [name]
    platforms = [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    for requirement in wanted:
        before = set(folder.glob("*.whl")) if folder.exists() else set()
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "--python-version", "3.11", "--implementation", "cp", *platforms,
                               "-d", str(folder), requirement], capture_output=True, text=True,
                              preexec_fn=dies_with_parent())
        new = set(folder.glob("*.whl")) - before if folder.exists() else set()
        if proc.returncode == 0 and new:
            wheel = new.pop()
            return wheel, wheel.name.split("-")[1]
    raise EdgembError(f"pip found no aarch64 wheel of {name} for Python 3.11: {tail(proc.stderr)}")


def run_tool(argv: list[str], what: str, hint: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, preexec_fn=dies_with_parent())
    if proc.returncode != 0:
        raise EdgembError(f"{what} failed ({tail(proc.stderr)}); {hint}")


def tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
