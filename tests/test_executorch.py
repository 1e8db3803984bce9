"""ExecuTorch (.pte) export, runtime and bad input: a trained Fashion-MNIST model
exported for real, run through ExecuTorch's own runtime."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edge_mobilenet.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.runtime import load_runner
from tests.test_export import edgemb, one_line_error


@pytest.fixture(scope="module")
def bundle(fashion_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pte") / "bundle"
    result = edgemb("export", fashion_run, "--int8", "--formats", "executorch", "--out", out, "--val-samples", 500)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_pte_files_are_validated_and_recorded(bundle):
    report = json.loads((bundle / "report.json").read_text())
    fp32, int8 = report["artifacts"]["model.pte"], report["artifacts"]["model.int8.pte"]
    assert (fp32["format"], fp32["precision"], int8["precision"]) == ("executorch", "fp32", "int8")
    assert fp32["max_abs_diff"] < 1e-4
    assert fp32["top1"] == pytest.approx(report["pytorch"]["top1"], abs=0.002)
    assert int8["top1_agreement"] >= 0.95 and int8["sqnr_db"] >= 20
    assert int8["size_bytes"] < 0.45 * fp32["size_bytes"]
    assert "top1_drop_points" in report["headline"]["executorch"]
    for m in (fp32, int8):  # the whole network in one XNNPACK delegate call, nothing outside
        assert m["ops"] == {"delegate XnnpackBackend": 1} and m["problems"] == []
    info = json.loads((bundle / "edgemb.json").read_text())
    r = info["resolution"]
    for name in ("model.pte", "model.int8.pte"):
        assert info["export"]["artifacts"][name] == {"shape": [1, 3, r, r], "dtype": "float32",
                                                     "layout": "NCHW", "normalized": True}
    assert "model.int8.pte" in (bundle / "report.md").read_text()


# ExecuTorch's runtime used directly, knowing nothing of edgemb: the input contract
# from edgemb.json, the normalization written out by hand.
DIRECT = '''
import json, sys
import numpy as np, torch
from executorch.runtime import Runtime
pixels = np.load(sys.argv[1])
pre = json.load(open(sys.argv[2]))["preprocessing"]
x = (pixels.astype(np.float32) - np.array(pre["mean"], np.float32)) / np.array(pre["std"], np.float32)
x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32))
out = {}
for path in sys.argv[3:]:
    program = Runtime.get().load_program(path)  # it owns the method's memory: keep it
    forward = program.load_method("forward")
    out[path] = np.concatenate([forward.execute([x[i:i + 1]])[0].numpy() for i in range(len(x))]).tolist()
print(json.dumps(out))
'''


def test_executorch_runtime_alone_gets_the_same_answers(bundle, tmp_path):
    from edge_mobilenet.data import load_split

    runner = load_runner(bundle / "model.int8.pte")
    pixels = load_split(runner.info.dataset, "val", runner.info.preprocessing, limit=64).pixels
    np.save(tmp_path / "pixels.npy", pixels)
    names = [str(bundle / "model.pte"), str(bundle / "model.int8.pte")]
    result = subprocess.run([sys.executable, "-c", DIRECT, str(tmp_path / "pixels.npy"), str(bundle / "edgemb.json"),
                             *names], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    direct = json.loads(result.stdout.splitlines()[-1])
    for name in names:
        ours = load_runner(Path(name)).predict(pixels)
        theirs = np.asarray(direct[name], np.float32)
        assert np.abs(ours - theirs).max() < 1e-5
        assert (ours.argmax(1) == theirs.argmax(1)).all()


def test_eval_predict_and_bench_take_a_pte(bundle, tmp_path):
    evaluated = edgemb("eval", bundle / "model.int8.pte", "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout)["top1"] > 0.6
    shirt = tmp_path / "item.png"  # a real Fashion-MNIST test image, as a file
    Image.fromarray(load_fashion_mnist("test")[0][0]).save(shirt)
    predicted = edgemb("predict", bundle / "model.int8.pte", shirt, "--json")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    top = json.loads(predicted.stdout)[0]["predictions"][0]
    assert top["class"] in CLASS_NAMES and 0 < top["probability"] <= 1
    benched = edgemb("bench", bundle / "model.int8.pte", "--threads", "1", "--runs", "3", "--warmup", "1",
                     "--json", tmp_path / "b.json")
    assert benched.returncode == 0, benched.stderr[-2000:]
    record = json.loads((tmp_path / "b.json").read_text())["results"][0]
    assert record["format"] == "executorch" and record["parity"]["max_abs_diff"] < 1e-5
    assert record["interpreter"].startswith("executorch")


def test_threads_are_set_on_the_xnnpack_threadpool(bundle):
    from executorch.extension.pybindings import portable_lib

    load_runner(bundle / "model.pte", threads=1)
    assert portable_lib._threadpool_get_thread_count() == 1
    load_runner(bundle / "model.pte", threads=2)
    assert portable_lib._threadpool_get_thread_count() == 2


def test_corrupt_or_foreign_pte_is_one_line(bundle, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(bundle, folder)
    data = (bundle / "model.pte").read_bytes()
    (folder / "model.pte").write_bytes(data[:len(data) // 3])  # cut off
    (folder / "other.pte").write_bytes(data[:4] + b"ET11" + data[8:])  # an older file format
    (folder / "junk.pte").write_bytes(b"not a program at all" * 10)
    before = sorted(p.name for p in folder.iterdir())
    assert "cannot be loaded by ExecuTorch" in one_line_error(edgemb("eval", folder / "model.pte"))
    assert "another ExecuTorch version" in one_line_error(edgemb("eval", folder / "other.pte"))
    assert "cannot be loaded by ExecuTorch" in one_line_error(edgemb("bench", folder / "junk.pte", "--runs", "2"))
    assert sorted(p.name for p in folder.iterdir()) == before


class DataDependent(torch.nn.Module):
    """A classifier torch.export cannot capture: Python control flow on a tensor's value."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out.softmax(1) if out.sum() > 0 else out


def test_a_model_executorch_cannot_export_leaves_nothing(fashion_run, tmp_path, monkeypatch):
    from edge_mobilenet.export import executorch
    from edge_mobilenet.export.bundle import export_bundle

    monkeypatch.setattr(executorch, "Classifier", DataDependent)
    out = tmp_path / "bundle"
    with pytest.raises(EdgembError, match="ExecuTorch cannot export this model"):
        export_bundle(fashion_run, out, formats=("executorch",), val_samples=50, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_a_conv_outside_the_delegate_is_refused(tmp_path):
    """A layer XNNPACK does not take (a 3-D convolution) would run on portable kernels."""
    from edge_mobilenet.export.executorch import lower

    model = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3), torch.nn.Flatten(0)).eval()
    with pytest.raises(EdgembError, match="not delegated to XNNPACK"):
        lower(model, torch.zeros(1, 3, 8, 8), False, "model.pte")


def test_arm64_targets_say_why_a_pte_cannot_run(tmp_path):
    from edge_mobilenet.bench.targets import QemuTarget

    target = object.__new__(QemuTarget)  # the check comes before any emulator is provisioned
    target.name, target.machine = "arm64", {"how": "qemu"}
    with pytest.raises(EdgembError, match="links libtorch"):
        target.check(tmp_path / "model.int8.pte")
