"""Run one model on this machine and print one JSON result on stdout.

This file is self-contained on purpose: edgemb copies it to an ARM board over
SSH, or runs it with an emulated aarch64 Python, where nothing but the standard
library, numpy and a runtime is installed. It uses whichever runtime exists:
ai_edge_litert, else tflite_runtime, else tensorflow.lite for .tflite, and
onnxruntime for .onnx, executorch.runtime for .pte.

    python3 runner_script.py MODEL INPUTS.npy [--threads T] [--runs N] [--warmup W] [--profile-ops] [--exit-with-stdin]
    python3 runner_script.py --machine

INPUTS.npy holds the model's input tensors stacked, N x (input shape without
the batch axis). Every input runs once (the outputs, for parity), then the
first input runs W times untimed and N times timed. The result has
latency_ms, outputs (float32 N x classes, dequantized; base64), peak_memory_bytes
(the model's own: resident memory growth from before loading it to after the
last invoke, as benchmark_model --report_peak_memory_footprint counts it),
peak_rss_bytes (the whole process's peak, runtime libraries included),
op_profile, op_profile_runs and interpreter, or error (with exit code 2) when the
model or inputs are unusable. Per-op timings (--profile-ops) come from ONNX
Runtime's profiler, and for .tflite from LiteRT's C API profiler (ai_edge_litert
only); both count whole microseconds, so a fast model is profiled over enough
runs for the average to resolve its ops (PROFILE_SECONDS).
"""
import argparse
import base64
import ctypes
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

# ARM's part numbers, as /proc/cpuinfo shows them ("CPU part"), for the cores edgemb meets most.
ARM_PARTS = {0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd05: "Cortex-A55", 0xd07: "Cortex-A57",
             0xd08: "Cortex-A72", 0xd09: "Cortex-A73", 0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76",
             0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77", 0xd40: "Neoverse-V1", 0xd41: "Cortex-A78",
             0xd44: "Cortex-X1", 0xd46: "Cortex-A510", 0xd47: "Cortex-A710", 0xd49: "Neoverse-N2",
             0xd4f: "Neoverse-V2"}
# The ai_edge_litert versions whose C structures LiteRtProfile was checked against.
LITERT_PROFILED = ("2.3.",)
OPERATOR_EVENTS = (2, 4, 8)  # LiteRT event types: TFLite op, delegate op, op profiled by the delegate
PROFILE_SECONDS = 0.3  # per-op profiling runs at least this long (at most MAX_PROFILE_RUNS runs)
MAX_PROFILE_RUNS = 5000


class UserError(Exception):
    """The model or the inputs cannot be used: reported as {"error": ...}."""


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def tflite_interpreter():
    """(Interpreter class, "name version") of the first TFLite runtime found."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter, f"ai_edge_litert {package_version('ai-edge-litert')}"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        return Interpreter, f"tflite_runtime {package_version('tflite-runtime')}"
    except ImportError:
        pass
    try:
        import tensorflow as tf
        return tf.lite.Interpreter, f"tensorflow.lite {tf.__version__}"
    except ImportError:
        raise UserError("no TFLite runtime here: install ai-edge-litert (pip install ai-edge-litert)") from None


def cpu_name(cpuinfo):
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if fields.get("model name"):
        return fields["model name"]
    part = fields.get("CPU part", "")
    name = ARM_PARTS.get(int(part, 16), f"ARM part {part}") if part.startswith("0x") else ""
    board = fields.get("Model", "")
    return " on ".join(n for n in (name, board) if n) or platform.processor() or platform.machine()


def int8_instructions(cpuinfo):
    """The CPU's int8 dot-product instructions, which decide whether int8 beats fp32:
    x86 VNNI (AVX-512 or AVX) or Arm's dot product / i8mm, else the widest SIMD there is."""
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags |= set(value.split())
    found = [name for flag, name in (("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
                                     ("asimddp", "dot product"), ("i8mm", "i8mm")) if flag in flags]
    if found:
        return ", ".join(found)
    widest = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON"))
                   if flag in flags), "unknown")
    return f"{widest}, no int8 dot product"


def machine_info():
    """What this machine is, and which runtimes it has (found without importing them)."""
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
        cpu, int8 = cpu_name(cpuinfo), int8_instructions(cpuinfo)
    except OSError:
        cpu, int8 = platform.processor() or platform.machine(), "unknown"
    tflite = next((f"{module} {package_version(dist)}" for module, dist in
                   (("ai_edge_litert", "ai-edge-litert"), ("tflite_runtime", "tflite-runtime"),
                    ("tensorflow", "tensorflow")) if importlib.util.find_spec(module)), None)
    onnx = f"onnxruntime {package_version('onnxruntime')}" if importlib.util.find_spec("onnxruntime") else None
    return {"cpu": cpu, "int8_instructions": int8, "cores": os.cpu_count(), "arch": platform.machine(),
            "python": platform.python_version(), "runtimes": {"tflite": tflite, "onnx": onnx}}


class TFLiteModel:
    def __init__(self, path, threads):
        Interpreter, self.interpreter_name = tflite_interpreter()
        self.path = path
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise UserError(f"not a valid .tflite model ({first_line(e)})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self.input["shape"])
        self.input_dtype = np.dtype(self.input["dtype"])

    def set_input(self, tensor):
        self.interpreter.set_tensor(self.input["index"], tensor)

    def invoke(self):
        self.interpreter.invoke()

    def output_probabilities(self):
        out = self.interpreter.get_tensor(self.output["index"])
        scale, zero_point = self.output["quantization"]
        if out.dtype != np.float32:
            return (out.astype(np.float32) - zero_point) * np.float32(scale)
        return out

    def op_profile(self, tensor, runs, warmup):
        version = self.interpreter_name.split()[-1]
        if not self.interpreter_name.startswith("ai_edge_litert") or not version.startswith(LITERT_PROFILED):
            return None  # no Python API hands out TFLite's per-op timings; see LiteRtProfile
        with LiteRtProfile(self.path) as profile:
            return profile.run(tensor, runs, warmup)


class ProfiledEvent(ctypes.Structure):
    """LiteRT's ProfiledEventData as libLiteRt.so 2.3 lays it out (each memory
    usage is three 64-bit fields, one more than its C header shows)."""
    _fields_ = [("tag", ctypes.c_char_p), ("event_type", ctypes.c_int), ("start_us", ctypes.c_uint64),
                ("elapsed_us", ctypes.c_uint64), ("memory_usage", ctypes.c_int64 * 6),
                ("node", ctypes.c_uint64), ("metadata2", ctypes.c_uint64), ("source", ctypes.c_int)]


class LiteRtProfile:
    """Per-op timings of a .tflite through LiteRT's C API (libLiteRt.so in the
    ai_edge_litert wheel): a compiled model with profiling on, run with the given
    input. XNNPACK reports its own operators, e.g. "Convolution (NHWC, QC8) DWConv"
    for a depthwise conv; a 1x1 conv shows as "Fully Connected ... GEMM"."""

    def __init__(self, path):
        import ai_edge_litert
        self.lib = ctypes.CDLL(os.path.join(os.path.dirname(ai_edge_litert.__file__), "libLiteRt.so"))
        self.path = path
        self.handles = []  # (destroy function, handle), destroyed in reverse order

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for destroy, handle in reversed(self.handles):
            getattr(self.lib, destroy)(handle)

    def call(self, function, *args):
        status = getattr(self.lib, function)(*args)
        if status != 0:
            raise UserError(f"LiteRT op profiling failed in {function} (status {status})")

    def new(self, function, destroy, *args):
        handle = ctypes.c_void_p()
        self.call(function, *args, ctypes.byref(handle))
        if destroy:
            self.handles.append((destroy, handle))
        return handle

    def compile(self):
        env = self.new("LiteRtCreateEnvironment", "LiteRtDestroyEnvironment", 0, None)
        model = self.new("LiteRtCreateModelFromFile", "LiteRtDestroyModel", env, self.path.encode())
        options = self.new("LiteRtCreateOptions", "LiteRtDestroyOptions")
        self.call("LiteRtSetOptionsHardwareAccelerators", options, 1)  # the CPU (XNNPACK)
        libc = ctypes.CDLL(None)
        libc.strdup.restype, libc.strdup.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        payload = ctypes.c_void_p(libc.strdup(b"enable_profiling = true\n"))  # LiteRT frees it
        opaque = self.new("LiteRtCreateOpaqueOptions", None, b"runtime_options_string", payload,
                          ctypes.cast(libc.free, ctypes.c_void_p))
        self.call("LiteRtAddOpaqueOptions", options, opaque)
        compiled = self.new("LiteRtCreateCompiledModel", "LiteRtDestroyCompiledModel", env, model, options)
        signature = self.new("LiteRtGetModelSignature", None, model, ctypes.c_size_t(0))
        return env, compiled, signature

    def buffer(self, env, compiled, signature, kind):
        """A buffer for the signature's first input or output ("Input"/"Output")."""
        tensor = self.new(f"LiteRtGetSignature{kind}TensorByIndex", None, signature, ctypes.c_size_t(0))
        requirements = self.new(f"LiteRtGetCompiledModel{kind}BufferRequirements", None, compiled,
                                ctypes.c_size_t(0), ctypes.c_size_t(0))
        tensor_type = ctypes.create_string_buffer(1024)  # LiteRtRankedTensorType, with room to spare
        self.call("LiteRtGetRankedTensorType", tensor, tensor_type)
        # element type, then rank (7 bits), then up to 8 dimensions: a dynamic batch (-1) becomes 1
        header = np.frombuffer(tensor_type, np.int32, count=10)
        for axis in range(int(header[1]) & 0x7F):
            if header[2 + axis] < 0:
                ctypes.memmove(ctypes.addressof(tensor_type) + 8 + 4 * axis, (ctypes.c_int32 * 1)(1), 4)
        return self.new("LiteRtCreateManagedTensorBufferFromRequirements", "LiteRtDestroyTensorBuffer",
                        env, tensor_type, requirements)

    def run(self, tensor, runs, warmup):
        env, compiled, signature = self.compile()
        source = self.buffer(env, compiled, signature, "Input")
        sink = self.buffer(env, compiled, signature, "Output")
        address = ctypes.c_void_p()
        self.call("LiteRtLockTensorBuffer", source, ctypes.byref(address), 1)  # for writing
        ctypes.memmove(address, np.ascontiguousarray(tensor).ctypes.data, tensor.nbytes)
        self.lib.LiteRtUnlockTensorBuffer(source)
        profiler = self.new("LiteRtCompiledModelGetProfiler", None, compiled)
        inputs, outputs = (ctypes.c_void_p * 1)(source), (ctypes.c_void_p * 1)(sink)
        for n in range(warmup + runs):
            if n == warmup:
                self.call("LiteRtResetProfiler", profiler)
                self.call("LiteRtStartProfiler", profiler)
            self.call("LiteRtRunCompiledModel", compiled, ctypes.c_size_t(0), ctypes.c_size_t(1), inputs,
                      ctypes.c_size_t(1), outputs)
        self.call("LiteRtStopProfiler", profiler)
        count = ctypes.c_int()
        self.call("LiteRtGetNumProfilerEvents", profiler, ctypes.byref(count))
        events = (ProfiledEvent * count.value)()
        self.call("LiteRtGetProfilerEvents", profiler, count, events)
        per_op = {}  # (event type, node) -> (op, [µs per run]), in execution order
        for event in events:
            if event.event_type in OPERATOR_EVENTS:
                key = (event.event_type, event.node)
                per_op.setdefault(key, (event.tag.decode(), []))[1].append(event.elapsed_us)
        return [{"op": op, "node": f"{'delegate' if kind != 2 else 'tflite'}:{node}",
                 "ms": sum(times) / len(times) / 1000} for (kind, node), (op, times) in per_op.items()]


class OnnxModel:
    def __init__(self, path, threads):
        import onnxruntime as ort
        self.ort = ort
        self.path, self.threads = path, threads
        self.interpreter_name = f"onnxruntime {ort.__version__}"
        self.session = self.make_session(profile_dir=None)
        model_input = self.session.get_inputs()[0]
        if not all(isinstance(d, int) for d in model_input.shape):
            raise UserError(f"dynamic input shape {model_input.shape}: export it with a fixed shape")
        self.input_name = model_input.name
        self.input_shape = tuple(model_input.shape)
        self.input_dtype = np.dtype(np.float32 if model_input.type == "tensor(float)" else np.uint8)
        self.feed = self.outputs = None

    def make_session(self, profile_dir):
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        if profile_dir:
            options.enable_profiling = True
            options.profile_file_prefix = os.path.join(profile_dir, "ort")
        try:
            return self.ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime has its own exception types for bad files
            raise UserError(f"not a valid ONNX model ({first_line(e)[:200]})") from None

    def set_input(self, tensor):
        self.feed = {self.input_name: tensor}

    def invoke(self):
        self.outputs = self.session.run(None, self.feed)

    def output_probabilities(self):
        return self.outputs[0].astype(np.float32)

    def op_profile(self, tensor, runs, warmup):
        """Average kernel time per node over `runs`, from ONNX Runtime's own profiler,
        in a separate session so that profiling never slows the timed runs."""
        profile_dir = tempfile.mkdtemp(prefix="edgemb-ort-profile-")
        try:
            session = self.make_session(profile_dir)
            for _ in range(warmup + runs):
                session.run(None, {self.input_name: tensor})
            with open(session.end_profiling()) as f:
                events = json.load(f)
        finally:
            shutil.rmtree(profile_dir, ignore_errors=True)
        per_node = {}  # node -> (op type, [µs per run]), in execution order
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                node = event["name"][:-len("_kernel_time")]
                per_node.setdefault(node, (event["args"].get("op_name", "?"), []))[1].append(event["dur"])
        return [{"op": op, "node": node, "ms": sum(times[warmup:]) / len(times[warmup:]) / 1000}
                for node, (op, times) in per_node.items() if times[warmup:]]


class PteModel:
    """An ExecuTorch .pte through executorch.runtime. Its XNNPACK threadpool is
    process-wide and defaults to every core: set it to `threads`."""
    # The registry's executorch wheels are built without the event tracer: no ETDump.
    NO_OP_PROFILE = ("no per-op times for .pte: the installed executorch runtime is built without the "
                     "event tracer (ETDump); an ExecuTorch built with EXECUTORCH_ENABLE_EVENT_TRACER=ON has them")

    def __init__(self, path, threads):
        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime
        self.torch = torch
        portable_lib._unsafe_reset_threadpool(threads)
        self.interpreter_name = f"executorch {package_version('executorch')} (XNNPACK)"
        try:
            self.program = Runtime.get().load_program(path)  # owns the method's memory: keep it
            self.method = self.program.load_method("forward")
        except Exception as e:  # the runtime raises plain RuntimeError/ValueError with an error code
            raise UserError(f"not a valid ExecuTorch program for executorch {package_version('executorch')} "
                            f"({first_line(e)[:200]})") from None
        meta = self.method.metadata.input_tensor_meta(0)
        self.input_shape = tuple(meta.sizes())
        self.input_dtype = np.dtype({0: np.uint8, 1: np.int8}.get(meta.dtype(), np.float32))
        self.feed = self.outputs = None

    def set_input(self, tensor):
        self.feed = [self.torch.from_numpy(np.ascontiguousarray(tensor))]

    def invoke(self):
        self.outputs = self.method.execute(self.feed)

    def output_probabilities(self):
        return self.outputs[0].numpy().astype(np.float32)

    def op_profile(self, tensor, runs, warmup):
        return None


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def load_model(path, threads):
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist")
    if path.endswith(".tflite"):
        return TFLiteModel(path, threads)
    if path.endswith(".onnx"):
        return OnnxModel(path, threads)
    if path.endswith(".pte"):
        return PteModel(path, threads)
    raise UserError(f"{path}: not a .tflite, .onnx or .pte model")


def read_inputs(path):
    try:
        return np.load(path)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the inputs {path} ({first_line(e)})") from None


def check_inputs(inputs, model):
    expected = model.input_shape[1:]
    if inputs.ndim < 1 or len(inputs) == 0 or inputs.shape[1:] != expected or inputs.dtype != model.input_dtype:
        raise UserError(f"the model takes {model.input_dtype} {list(model.input_shape)} inputs, "
                        f"got {inputs.dtype} {list(inputs.shape)} (N x input shape without batch)")
    return inputs


def memory_status():
    """(current, peak) resident bytes of this process, from /proc/self/status (Linux)."""
    fields = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.split()
        return int(fields["VmRSS"][0]) * 1024, int(fields["VmHWM"][0]) * 1024
    except (OSError, KeyError, ValueError, IndexError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
        return rss, rss


def reset_peak():
    """Start the peak (VmHWM) afresh from the current RSS; False where Linux does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def import_runtime(path):
    """Load the runtime's libraries before the baseline: they are not the model's memory."""
    if path.endswith(".tflite"):
        tflite_interpreter()
    elif path.endswith(".onnx"):
        import onnxruntime  # noqa: F401
    elif path.endswith(".pte"):
        import executorch.runtime  # noqa: F401


def run(model_path, inputs_path, threads, runs, warmup, profile_ops):
    import_runtime(model_path)
    raw_inputs = read_inputs(inputs_path)
    baseline, _ = memory_status()
    peak_was_reset = reset_peak()
    model = load_model(model_path, threads)
    inputs = check_inputs(raw_inputs, model)
    outputs = []
    for tensor in inputs:
        model.set_input(tensor[None])
        model.invoke()
        outputs.append(model.output_probabilities().reshape(1, -1))
    outputs = np.concatenate(outputs).astype(np.float32)

    first = inputs[:1]
    model.set_input(first)
    for _ in range(warmup):
        model.invoke()
    latency_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        model.invoke()
        latency_ms.append((time.perf_counter() - start) * 1000)
    current, peak = memory_status()
    peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    median_s = sorted(latency_ms)[len(latency_ms) // 2] / 1000
    profile_runs = max(runs, min(MAX_PROFILE_RUNS, int(PROFILE_SECONDS / max(median_s, 1e-6))))
    return {"latency_ms": latency_ms,
            "outputs": {"shape": list(outputs.shape), "float32_base64": base64.b64encode(outputs.tobytes()).decode()},
            "peak_memory_bytes": max(peak if peak_was_reset else peak_rss_bytes, current) - baseline,
            "peak_rss_bytes": peak_rss_bytes,
            "op_profile": model.op_profile(first, profile_runs, warmup) if profile_ops else None,
            "op_profile_runs": profile_runs if profile_ops else 0,
            "op_profile_unavailable": getattr(model, "NO_OP_PROFILE", None) if profile_ops else None,
            "interpreter": model.interpreter_name}


def exit_when_stdin_closes():
    """A watcher thread: when the parent dies (or the SSH connection to it drops), the
    pipe on our stdin closes and the runner stops instead of running on for nobody."""
    def watch():
        while os.read(0, 4096):
            pass
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("inputs", nargs="?")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile-ops", action="store_true")
    parser.add_argument("--machine", action="store_true", help="Print what this machine is, and exit.")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="Stop as soon as stdin closes: edgemb keeps it open while it waits for the result.")
    args = parser.parse_args()
    if args.exit_with_stdin:
        exit_when_stdin_closes()
    if args.machine:
        print(json.dumps(machine_info()))
        return
    if not args.model or not args.inputs or args.threads < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("give MODEL and INPUTS, --threads >= 1, --runs >= 1, --warmup >= 0")
    try:
        result = run(args.model, args.inputs, args.threads, args.runs, args.warmup, args.profile_ops)
    except UserError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
