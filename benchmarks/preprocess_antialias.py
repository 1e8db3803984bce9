"""What antialiased shrinking changes (issue 14): data/preprocess.py's resize before
(bilinear-fixed11: two taps, aliasing when shrinking) and after
(antialiased-bilinear-fixed11: a triangle filter as wide as the shrink factor).

- A 1-pixel checkerboard at 2400x2400 through a 224 model's preprocessing: the
  standard deviation of the output. Goal: under 8 grey levels (it should be flat grey).
- Large photos (scikit-image's, upscaled to phone-photo sizes): mean absolute
  difference from Pillow's antialiased resize. Goal: within 2.5 levels.
- The ImageNet MobileNetV2 (fp32, PyTorch): top-1 agreement with the same model fed
  Pillow-preprocessed input, on those large photos. Reported before and after.
- Fashion-MNIST: its 28x28 images are only ever scaled up, which is unchanged, so its
  accuracy is unchanged if every preprocessed test image is byte-identical. Checked
  for all 10,000 at several resolutions (no retraining needed).

    python benchmarks/preprocess_antialias.py   # writes benchmarks/results/preprocess_antialias.{json,md}
"""
import sys
import tempfile
from pathlib import Path

import numpy as np
import skimage
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.rounds import write_results  # noqa: E402
from edge_mobilenet.data.fashion_mnist import load_fashion_mnist, preprocess_gray  # noqa: E402
from edge_mobilenet.data.preprocess import (ANTIALIASED, BILINEAR, Preprocessing, preprocess,  # noqa: E402
                                           resized_shape)
from edge_mobilenet.pretrained import write_pretrained_run  # noqa: E402
from edge_mobilenet.runtime import load_runner  # noqa: E402

PHOTOS = Path(skimage.__file__).parent / "data"
PRE = Preprocessing.for_resolution(224)
LONG_SIDES = (1600, 3000, 4000)  # a large photo, a 4.5 MP and a 12 MP phone photo's long side
METHODS = {"before": BILINEAR, "after": ANTIALIASED}


def pillow_preprocess(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """The reference: Pillow's antialiased bilinear resize of the shorter side, center crop."""
    height, width = image.shape[:2]
    new_h, new_w = resized_shape(height, width, pre.resize)
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    top, left = (new_h - pre.crop) // 2, (new_w - pre.crop) // 2
    return resized[top:top + pre.crop, left:left + pre.crop]


def large_photos():
    """Every scikit-image photo of at least 256 px as RGB, upscaled (bicubic) to each long side:
    yields one at a time (a 12 MP image is 36 MB)."""
    for path in sorted(PHOTOS.glob("*.png")) + sorted(PHOTOS.glob("*.jpg")):
        image = Image.open(path)
        if min(image.size) < 256:
            continue
        image = image.convert("RGB")
        for long_side in LONG_SIDES:
            scale = long_side / max(image.size)
            size = (round(image.size[0] * scale), round(image.size[1] * scale))
            yield np.asarray(image.resize(size, Image.BICUBIC))


def checkerboard() -> dict:
    board = np.repeat((np.indices((2400, 2400)).sum(0) % 2 * 255).astype(np.uint8)[:, :, None], 3, 2)
    return {name: float(preprocess(board, Preprocessing(PRE.crop, PRE.resize, interpolation=method)).std())
            for name, method in METHODS.items()} | {"pillow": float(pillow_preprocess(board, PRE).std())}


def photo_fidelity(run_dir: Path) -> dict:
    runner = load_runner(run_dir)
    differences = {name: [] for name in METHODS}
    agree = {name: 0 for name in METHODS}
    count = 0
    for image in large_photos():
        count += 1
        reference = pillow_preprocess(image, PRE)
        inputs = [reference] + [preprocess(image, Preprocessing(PRE.crop, PRE.resize, interpolation=method))
                                for method in METHODS.values()]
        top1 = runner.predict(np.stack(inputs)).argmax(1)
        for i, name in enumerate(METHODS, 1):
            differences[name].append(float(np.abs(inputs[i].astype(int) - reference).mean()))
            agree[name] += int(top1[i] == top1[0])
    return {name: {"mean_abs_diff_vs_pillow": float(np.mean(differences[name])),
                   "worst_photo_mean_abs_diff": float(np.max(differences[name])),
                   "top1_agreement_vs_pillow": agree[name] / count, "photos": count} for name in METHODS}


def fashion_identical() -> dict:
    images = load_fashion_mnist("test")[0]
    out = {}
    for resolution in (32, 64, 96, 224):
        pre = Preprocessing.for_resolution(resolution)
        old = preprocess_gray(images, Preprocessing(pre.crop, pre.resize, interpolation=BILINEAR))
        new = preprocess_gray(images, pre)
        out[str(resolution)] = bool(np.array_equal(old, new))
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_pretrained_run("mobilenet_v2", Path(tmp) / "run")
        fidelity = photo_fidelity(Path(tmp) / "run")
    board = checkerboard()
    fashion = fashion_identical()
    goals = {
        "checkerboard std < 8 levels": board["after"] < 8,
        "large photos within 2.5 levels of Pillow (mean abs diff)": fidelity["after"]["mean_abs_diff_vs_pillow"] <= 2.5,
        "Fashion-MNIST preprocessing byte-identical (accuracy unchanged)": all(fashion.values()),
    }
    result = {"machine": machine_info(), "photos": fidelity["after"]["photos"], "long_sides": LONG_SIDES,
              "preprocessing": PRE.to_json(), "checkerboard_std": board, "photos_vs_pillow": fidelity,
              "fashion_mnist_identical": fashion, "goals": goals}
    write_results("preprocess_antialias", result, markdown(result))


def markdown(r: dict) -> str:
    f = r["photos_vs_pillow"]
    lines = [
        "# Antialiased preprocessing: before and after (benchmarks/preprocess_antialias.py)", "",
        "Machine: {cpu}, {cores} cores, {arch}, Python {python} (measured under the shared CPU lock).".format(
            **r["machine"]), "",
        f"Preprocessing of a 224 model: shorter side to {r['preprocessing']['resize']}, center crop 224. "
        f"Before: `{BILINEAR}`; after: `{ANTIALIASED}`.", "",
        "| measure | before | after | Pillow |", "|---|---|---|---|",
        f"| 1-px checkerboard 2400x2400, output std (levels) | {r['checkerboard_std']['before']:.1f} | "
        f"{r['checkerboard_std']['after']:.1f} | {r['checkerboard_std']['pillow']:.1f} |",
        f"| {r['photos']} large photos, mean abs diff from Pillow (levels) | {f['before']['mean_abs_diff_vs_pillow']:.2f} | "
        f"{f['after']['mean_abs_diff_vs_pillow']:.2f} | 0 |",
        f"| same, worst photo | {f['before']['worst_photo_mean_abs_diff']:.2f} | "
        f"{f['after']['worst_photo_mean_abs_diff']:.2f} | 0 |",
        f"| ImageNet MobileNetV2 fp32 top-1 agreement with Pillow-preprocessed input | "
        f"{f['before']['top1_agreement_vs_pillow']:.1%} | {f['after']['top1_agreement_vs_pillow']:.1%} | 100% |", "",
        f"Photos: scikit-image's photos of at least 256 px, upscaled (bicubic) to long sides {', '.join(map(str, r['long_sides']))} px.", "",
        "Fashion-MNIST test set (10,000 images, upscaled 28 -> R): byte-identical before and after at R = "
        + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in r["fashion_mnist_identical"].items())
        + ", so its accuracy is unchanged (no retraining needed).", "", "## Goals", ""]
    lines += [f"- {goal}: {'met' if met else 'MISSED'}" for goal, met in r["goals"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
