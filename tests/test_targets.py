"""Targets: the runner on this machine and on a board over SSH (a real sshd on
127.0.0.1, started here), with real models: ImageNet MobileNetV2 as ONNX on
scikit-image photos, and a small depthwise-separable Keras network trained on
Fashion-MNIST as fp32 and int8 TFLite. test_arm64.py uses the same fixtures.

    python tests/test_targets.py keras FOLDER   # the Keras models (TensorFlow in a process of its own)
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from edge_mobilenet.bench.targets import RUNNER, get_target
from edge_mobilenet.data.fashion_mnist import load_fashion_mnist
from edge_mobilenet.data.preprocess import Preprocessing, normalize, preprocess
from edge_mobilenet.errors import EdgembError

KERAS_RESOLUTION = 32
ONNX_RESOLUTION = 128
EGYPTIAN_CAT, ESPRESSO = 285, 967
BUILT = {}  # what the session fixtures made, shared with test_arm64.py (which imports them)


def fashion_pixels(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST as the models see it: uint8 count x 32 x 32 x 3 after our preprocessing."""
    pre = Preprocessing.for_resolution(KERAS_RESOLUTION)
    images, labels = load_fashion_mnist(split)
    pixels = [preprocess(np.repeat(image[:, :, None], 3, axis=2), pre) for image in images[:count]]
    return np.stack(pixels), labels[:count]


def make_keras_models(folder: Path) -> None:
    """A MobileNet-like network (conv, then depthwise + pointwise pairs) trained for
    three epochs on 3000 Fashion-MNIST images: model.tflite takes normalized float32,
    model.int8.tflite raw uint8 pixels with every op in int8, like an export bundle."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf

    from edge_mobilenet.export.tflite_worker import convert_fp32, convert_int8
    keras, layers = tf.keras, tf.keras.layers
    keras.utils.set_random_seed(0)
    pre = Preprocessing.for_resolution(KERAS_RESOLUTION)
    pixels, labels = fashion_pixels("train", 3000)

    def conv(layer):
        return [layer, layers.BatchNormalization(momentum=0.9), layers.ReLU(6.0)]

    net = keras.Sequential([
        keras.Input((KERAS_RESOLUTION, KERAS_RESOLUTION, 3)),
        *conv(layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)),
        *conv(layers.DepthwiseConv2D(3, padding="same", use_bias=False)),
        *conv(layers.Conv2D(32, 1, use_bias=False)),
        *conv(layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False)),
        *conv(layers.Conv2D(64, 1, use_bias=False)),
        layers.GlobalAveragePooling2D(), layers.Dense(10, activation="softmax")])
    net.compile("adam", "sparse_categorical_crossentropy")
    net.fit(normalize(pixels, pre), labels, epochs=3, batch_size=64, verbose=0)
    (folder / "model.tflite").write_bytes(convert_fp32(net))

    raw = keras.Input((KERAS_RESOLUTION, KERAS_RESOLUTION, 3))
    with_normalization = keras.Model(raw, net(layers.Normalization(mean=pre.mean, variance=np.square(pre.std))(raw)))
    calibration = pixels[:200].astype(np.float32)
    calibration[0, 0, :2] = [[0.0] * 3, [255.0] * 3]  # so the uint8 input quantizes to scale 1, zero point 0
    (folder / "model.int8.tflite").write_bytes(convert_int8(with_normalization, calibration))


@pytest.fixture(scope="session")
def keras_models(tmp_path_factory) -> dict:
    """{"fp32": path, "int8": path, "pixels": uint8 16 x 32 x 32 x 3, "normalized": float32, "labels"}."""
    if "keras" not in BUILT:
        folder = tmp_path_factory.mktemp("keras")
        proc = subprocess.run([sys.executable, __file__, "keras", str(folder)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        pixels, labels = fashion_pixels("test", 16)
        BUILT["keras"] = {"fp32": folder / "model.tflite", "int8": folder / "model.int8.tflite", "pixels": pixels,
                          "normalized": normalize(pixels, Preprocessing.for_resolution(KERAS_RESOLUTION)),
                          "labels": labels}
    return BUILT["keras"]


@pytest.fixture(scope="session")
def imagenet_onnx(tmp_path_factory) -> dict:
    """ImageNet MobileNetV2 (real weights) as fp32 ONNX at 128 x 128 with softmax,
    and two photos (chelsea the cat, a coffee cup) as its float32 NCHW inputs."""
    if "onnx" not in BUILT:
        import torch

        from edge_mobilenet.pretrained import imagenet_mobilenet_v2
        from tests.photos import photo

        classifier = torch.nn.Sequential(imagenet_mobilenet_v2(), torch.nn.Softmax(dim=1)).eval()
        path = tmp_path_factory.mktemp("onnx") / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(classifier, (torch.zeros(1, 3, ONNX_RESOLUTION, ONNX_RESOLUTION),),
                                        dynamo=True, external_data=False, verbose=False)
        program.save(str(path), external_data=False)
        pre = Preprocessing.for_resolution(ONNX_RESOLUTION)
        inputs = np.stack([normalize(preprocess(photo(name), pre), pre).transpose(2, 0, 1)
                           for name in ("chelsea", "coffee")])
        BUILT["onnx"] = {"path": path, "inputs": np.ascontiguousarray(inputs)}
    return BUILT["onnx"]


def in_process_onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {session.get_inputs()[0].name: x[None]})[0] for x in inputs])


def in_process_tflite(path: Path, inputs: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source, sink = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for x in inputs:
        interpreter.set_tensor(source["index"], x[None])
        interpreter.invoke()
        scale, zero_point = sink["quantization"]
        out = interpreter.get_tensor(sink["index"])
        outputs.append((out.astype(np.float32) - zero_point) * np.float32(scale) if scale else out)
    return np.concatenate(outputs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def sshd(tmp_path_factory) -> dict:
    """A real OpenSSH server on 127.0.0.1 with its own host key, accepting one key
    made here; {"host": "root@127.0.0.1:PORT", "ssh_options": ("-F", client config)}."""
    if not Path("/usr/sbin/sshd").is_file() or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH server not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("sshd must run as root to accept logins; run the tests as root (CI does)")
    folder = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    port = free_port()
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder}/host_key\n"
        f"AuthorizedKeysFile {folder}/client_key.pub\nPidFile {folder}/sshd.pid\nStrictModes no\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n")  # scp speaks SFTP, as on a stock board
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {(folder / 'host_key.pub').read_text()}")
    (folder / "ssh_config").write_text(
        f"Host *\n  IdentityFile {folder}/client_key\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder}/known_hosts\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    server = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(folder / "sshd_config"), "-E", str(folder / "log")])
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None:
            pytest.skip(f"sshd did not start: {(folder / 'log').read_text()[-500:]}")
        time.sleep(0.1)
    yield {"host": f"root@127.0.0.1:{port}", "ssh_options": ("-F", str(folder / "ssh_config")), "folder": folder}
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)


def leftover_folders() -> set[Path]:
    return set(Path("/tmp").glob("edgemb-bench-*"))


def test_local_onnx_run_matches_an_in_process_session(imagenet_onnx):
    target = get_target("cpu")
    result = target.run(imagenet_onnx["path"], imagenet_onnx["inputs"], threads=1, runs=4, warmup=1)

    import onnxruntime
    assert result["interpreter"] == f"onnxruntime {onnxruntime.__version__}"
    np.testing.assert_array_equal(result["outputs"], in_process_onnx(imagenet_onnx["path"], imagenet_onnx["inputs"]))
    assert list(result["outputs"].argmax(1)) == [EGYPTIAN_CAT, ESPRESSO]
    assert len(result["latency_ms"]) == 4 and all(ms > 0 for ms in result["latency_ms"])
    assert result["peak_rss_bytes"] > imagenet_onnx["path"].stat().st_size  # the weights are in memory
    assert result["op_profile"] is None
    assert target.machine["how"] == "native" and target.machine["emulated"] is False
    assert target.machine["cores"] >= 1 and target.machine["cpu"]


def test_onnx_op_profile_times_every_conv_of_the_graph(imagenet_onnx):
    result = get_target("cpu").run(imagenet_onnx["path"], imagenet_onnx["inputs"][:1], runs=3, warmup=1,
                                   profile_ops=True)
    profile = result["op_profile"]
    convs = [entry for entry in profile if entry["op"] in ("Conv", "FusedConv")]
    assert len(convs) == 52  # MobileNetV2: 1 + 17 blocks (depthwise + projection, 16 with expansion) + last 1x1
    assert any(entry["op"] == "Gemm" for entry in profile)  # the classifier
    assert all(entry["ms"] > 0 and entry["node"] for entry in profile)
    assert len({entry["node"] for entry in profile}) == len(profile)


@pytest.mark.slow
def test_local_tflite_int8_and_fp32_match_in_process_litert(keras_models):
    target = get_target("cpu")
    int8 = target.run(keras_models["int8"], keras_models["pixels"], runs=3, warmup=1)
    fp32 = target.run(keras_models["fp32"], keras_models["normalized"], runs=3, warmup=1)

    np.testing.assert_array_equal(int8["outputs"], in_process_tflite(keras_models["int8"], keras_models["pixels"]))
    np.testing.assert_array_equal(fp32["outputs"], in_process_tflite(keras_models["fp32"], keras_models["normalized"]))
    assert int8["interpreter"].startswith("ai_edge_litert ")
    assert int8["outputs"].dtype == np.float32 and int8["outputs"].shape == (16, 10)
    np.testing.assert_allclose(int8["outputs"].sum(1), 1.0, atol=0.05)  # dequantized probabilities
    assert (fp32["outputs"].argmax(1) == keras_models["labels"]).mean() >= 0.5  # a trained model
    assert (int8["outputs"].argmax(1) == fp32["outputs"].argmax(1)).mean() >= 0.8
    assert int8["op_profile"] is None and fp32["op_profile"] is None  # not asked for


@pytest.mark.slow
def test_litert_op_profile_names_xnnpack_kernels(keras_models):
    """The network: a 3x3 conv, two depthwise + pointwise pairs, a dense layer."""
    profile = get_target("cpu").run(keras_models["int8"], keras_models["pixels"][:1], runs=4, warmup=1,
                                    profile_ops=True)["op_profile"]
    ops = [entry["op"] for entry in profile]
    assert sum("IGEMM" in op for op in ops) == 1  # the standard conv
    assert sum("DWConv" in op for op in ops) == 2  # depthwise
    assert sum(op.startswith("Fully Connected") for op in ops) == 3  # XNNPACK runs 1x1 convs as GEMMs
    assert all(entry["ms"] >= 0 for entry in profile) and sum(entry["ms"] for entry in profile) > 0
    assert len({entry["node"] for entry in profile}) == len(profile)


@pytest.mark.slow
def test_runner_falls_back_to_tensorflow_lite_without_ai_edge_litert(keras_models, tmp_path):
    np.save(tmp_path / "inputs.npy", keras_models["pixels"])
    hide_litert = ("import runpy, sys; sys.modules['ai_edge_litert'] = None; sys.argv = sys.argv[1:]; "
                   "runpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", hide_litert, str(RUNNER), str(keras_models["int8"]),
                           str(tmp_path / "inputs.npy"), "--runs", "2"], capture_output=True, text=True)
    result = get_target("cpu").parse_result(proc, keras_models["int8"])

    import tensorflow
    assert result["interpreter"] == f"tensorflow.lite {tensorflow.__version__}"
    np.testing.assert_array_equal(result["outputs"], in_process_tflite(keras_models["int8"], keras_models["pixels"]))


def test_ssh_target_copies_runs_and_cleans_up(sshd, imagenet_onnx):
    before = leftover_folders()
    target = get_target("cpu", host=sshd["host"], ssh_options=sshd["ssh_options"], python=sys.executable)
    result = target.run(imagenet_onnx["path"], imagenet_onnx["inputs"], runs=2, warmup=1, profile_ops=True)

    assert target.machine["how"] == "ssh" and target.machine["host"] == sshd["host"]
    assert target.machine["emulated"] is False and target.machine["arch"] == os.uname().machine
    np.testing.assert_array_equal(result["outputs"], in_process_onnx(imagenet_onnx["path"], imagenet_onnx["inputs"]))
    assert len(result["latency_ms"]) == 2 and result["op_profile"]
    assert leftover_folders() == before  # the board's temporary folder is gone


def test_ssh_arm64_refuses_a_board_that_is_not_arm64(sshd):
    with pytest.raises(EdgembError, match=r"is x86_64, not ARM64: use --device cpu"):
        get_target("arm64", host=sshd["host"], ssh_options=sshd["ssh_options"], python=sys.executable)


def test_ssh_board_without_numpy_is_one_clear_line(sshd):
    with pytest.raises(EdgembError) as error:
        get_target("cpu", host=sshd["host"], ssh_options=sshd["ssh_options"], python="/usr/bin/python3")
    assert "has no usable /usr/bin/python3 with numpy" in error.value.message
    assert "\n" not in error.value.message


def test_unreachable_ssh_host_is_one_clear_line(sshd):
    closed = f"root@127.0.0.1:{free_port()}"
    with pytest.raises(EdgembError, match=r"cannot reach .* over SSH: .*Connection refused") as error:
        get_target("cpu", host=closed, ssh_options=sshd["ssh_options"])
    assert "\n" not in error.value.message


def test_ssh_host_that_never_answers_times_out(sshd):
    """A port that accepts connections and says nothing: ssh gives up after ConnectTimeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        host = f"root@127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(EdgembError, match=r"cannot reach .* over SSH: .*timed out"):
            get_target("cpu", host=host, ssh_options=(*sshd["ssh_options"], "-o", "ConnectTimeout=2"))


@pytest.mark.parametrize("host", ["root@board:22x", "root@", "a b@board", "root@board:1:2"])
def test_malformed_host_is_one_clear_line(host):
    with pytest.raises(EdgembError, match=r"expected user@machine or user@machine:port"):
        get_target("cpu", host=host)


def test_unknown_device_and_cpu_are_refused():
    with pytest.raises(EdgembError, match=r"unknown device 'gpu': choose from cpu, arm64"):
        get_target("gpu")
    if os.uname().machine not in ("aarch64", "arm64"):  # the CPU only matters under emulation
        with pytest.raises(EdgembError, match=r"unknown ARM64 CPU 'cortex-a53': choose from neoverse-n1, cortex-a72"):
            get_target("arm64", cpu="cortex-a53")


def test_files_that_are_not_models_are_one_clear_line(tmp_path, imagenet_onnx):
    target = get_target("cpu")
    inputs = imagenet_onnx["inputs"]
    (tmp_path / "notes.tflite").write_text("not a model\n")
    (tmp_path / "model.txt").write_text("not a model\n")
    (tmp_path / "cut.onnx").write_bytes(imagenet_onnx["path"].read_bytes()[:100_000])

    for name, message in [("notes.tflite", "not a valid .tflite model"), ("model.txt", r"runs \.tflite, \.onnx, \.pte, \.pt models, not \.txt"),
                          ("cut.onnx", "not a valid ONNX model"), ("missing.onnx", "does not exist")]:
        with pytest.raises(EdgembError, match=message) as error:
            target.run(tmp_path / name, inputs, runs=1)
        assert "\n" not in error.value.message and "Traceback" not in error.value.message


@pytest.mark.slow
def test_truncated_tflite_is_one_clear_line(tmp_path, keras_models):
    cut = tmp_path / "cut.int8.tflite"
    cut.write_bytes(keras_models["int8"].read_bytes()[: keras_models["int8"].stat().st_size // 2])
    with pytest.raises(EdgembError, match=r"cut.int8.tflite: not a valid .tflite model"):
        get_target("cpu").run(cut, keras_models["pixels"], runs=1)


def test_onnx_with_dynamic_shapes_and_wrong_inputs_are_refused(tmp_path, imagenet_onnx):
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"], axis=1)], "dynamic",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.save(model, tmp_path / "dynamic.onnx")
    target = get_target("cpu")

    with pytest.raises(EdgembError, match=r"dynamic input shape \['batch', 10\]: export it with a fixed shape"):
        target.run(tmp_path / "dynamic.onnx", np.zeros((1, 10), np.float32), runs=1)
    with pytest.raises(EdgembError, match=r"takes float32 \[1, 3, 128, 128\] inputs, got uint8 \[2, 128, 128, 3\]"):
        target.run(imagenet_onnx["path"], np.zeros((2, 128, 128, 3), np.uint8), runs=1)


if __name__ == "__main__" and sys.argv[1:2] == ["keras"]:
    make_keras_models(Path(sys.argv[2]))
