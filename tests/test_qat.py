"""`edgemb train --qat --pretrained RUN`: quantization-aware fine-tuning of a finished run,
written back as an ordinary run that `edgemb export --int8` quantizes."""
import json
import subprocess
import sys

import pytest
import torch

from edge_mobilenet.checkpoints import load_state_dict
from edge_mobilenet.data import load_split
from edge_mobilenet.data.preprocess import normalize
from edge_mobilenet.run import load_run
from edge_mobilenet.train import TrainConfig, train
from edge_mobilenet.train.qat import QATNet
from tests.test_train import Recorder

EDGEMB = [sys.executable, "-m", "edge_mobilenet.cli"]


def edgemb(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGEMB, *map(str, args)], capture_output=True, text=True, timeout=900)


def validation_inputs(run_dir, count: int) -> torch.Tensor:
    info, _ = load_run(run_dir)
    pixels = load_split(info.dataset, "val", info.preprocessing, limit=count).pixels
    return torch.from_numpy(normalize(pixels, info.preprocessing)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("pretrained", [[], ["--pretrained", "imagenet"]])
def test_qat_without_a_run_to_fine_tune_is_a_usage_error(pretrained, tmp_path):
    result = edgemb("train", "--qat", *pretrained, "--out", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: --qat fine-tunes a finished run for int8: give that run with --pretrained RUN"]
    assert not (tmp_path / "run").exists()


def test_written_back_mobilenet_computes_the_folded_network(fashion_run):
    """model.pt of a QAT run is a MobileNet with identity BatchNorms around the trained
    folded weights: it must compute what the folded network computes in fp32."""
    info, model = load_run(fashion_run)
    net = QATNet.from_model(model)
    torch.manual_seed(0)
    with torch.no_grad():  # move every weight and bias, as fine-tuning does
        for p in net.parameters():
            p.mul_(1 + 0.1 * torch.randn_like(p))
    back = info.build_model()
    back.load_state_dict(net.mobilenet_state(), strict=True)
    x = validation_inputs(fashion_run, 64)
    with torch.no_grad():
        folded, written = net(x, quantized=False), back.eval()(x)
        assert (written - folded).abs().max() < 1e-4 * folded.abs().max()
        assert (written - model(x)).abs().max() > 1e-2  # the moved weights, not the starting ones


def test_qat_fine_tune_exports_through_the_int8_path(fashion_run, tmp_path):
    run = tmp_path / "qat"
    result = edgemb("train", "--qat", "--pretrained", fashion_run, "--epochs", 1, "--train-subset", 512,
                    "--lr", 0.005, "--out", run)
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads((run / "edgemb.json").read_text())
    assert recorded["qat"]["fine_tune_of"] == str(fashion_run.resolve())
    assert recorded["training"]["qat"] and (recorded["arch"], recorded["alpha"], recorded["resolution"]) == (
        "mobilenet_v2", 0.35, 32)  # RUN's, not the command's defaults
    fake_quantized_top1 = recorded["best"]["val_top1"]
    assert fake_quantized_top1 > 0.6  # 10 classes; the starting run reaches about 0.79

    bundle = tmp_path / "bundle"
    result = edgemb("export", run, "--int8", "--formats", "onnx", "--val-samples", 500, "--out", bundle)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((bundle / "report.json").read_text())
    int8 = report["artifacts"]["model.int8.onnx"]
    assert int8["top1_agreement"] > 0.9  # with the written-back fp32 model on validation images
    assert abs(int8["top1"] - report["pytorch"]["top1"]) < 0.03  # on the same images


def test_interrupted_qat_run_resumes_to_the_same_weights(fashion_run, tmp_path):
    config = TrainConfig(data="fashion-mnist", alpha=0.35, resolution=32, epochs=2, batch_size=32,
                         train_subset=256, lr=0.005, min_crop_scale=0.8, pretrained=str(fashion_run),
                         qat=True, workers=1)
    train(config, tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", Recorder(stop_after=1))
    train(config, tmp_path / "resumed", resume=True)
    for name in ("last.pt", "model.pt"):
        straight, resumed = (load_state_dict(tmp_path / run / name) for run in ("straight", "resumed"))
        straight, resumed = (s.get("model", s) for s in (straight, resumed))
        assert all(torch.equal(straight[k], resumed[k]) for k in straight), name
