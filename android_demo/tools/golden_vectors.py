"""Golden vectors for the Android core module's JVM tests (android_demo/core/src/test).

For each model given: a copy of it, what read_metadata finds in it (name.txt,
spec.properties, labels.txt) and, for a few real photos of several shapes, the
raw RGB pixels (.rgb), the input tensor edgemb's preprocessing makes from them
(.input), the model's output tensor from LiteRT (.output) and its top classes
(.top.tsv: index, score, label). The Kotlin tests must read the same metadata,
reproduce every input tensor byte for byte and find the same top classes in
the same outputs, so they fail when either side changes its preprocessing.

    python android_demo/tools/golden_vectors.py --out DIR MODEL.tflite [MODEL.tflite ...]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import skimage
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from edge_mobilenet.data.fashion_mnist import load_fashion_mnist
from edge_mobilenet.data.preprocess import Preprocessing, normalize, preprocess
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.tflite_metadata import read_metadata
from edge_mobilenet.io import atomic_dir

TOP_K = 3
PHOTO_DIR = Path(skimage.__file__).parent / "data"


def photos() -> dict[str, np.ndarray]:
    """Real RGB photos: landscape, square, portrait, and small ones that get scaled up."""
    def load(name: str) -> np.ndarray:
        return np.asarray(Image.open(next(PHOTO_DIR.glob(f"{name}.*"))).convert("RGB"))

    chelsea, coffee = load("chelsea"), load("coffee")
    fashion = load_fashion_mnist("test")[0][0]
    return {"chelsea": chelsea, "coffee": coffee, "astronaut": load("astronaut"),
            "chelsea_portrait": np.ascontiguousarray(chelsea[:, 120:320]),
            "coffee_patch": np.ascontiguousarray(coffee[100:128, 200:228]),
            "fashion_mnist": np.repeat(fashion[:, :, None], 3, axis=2)}


def input_tensor(meta: dict, image: np.ndarray) -> np.ndarray:
    """[1, crop, crop, 3]: uint8 pixels, or float32 normalized with the model's own mean and std."""
    normalization = meta["input"]["normalization"]
    pre = Preprocessing(crop=meta["preprocessing"]["crop"], resize=meta["preprocessing"]["resize"],
                        **({} if normalization is None else
                           {"mean": tuple(normalization["mean"]), "std": tuple(normalization["std"])}))
    pixels = preprocess(image, pre)[None]
    return pixels if meta["input"]["dtype"] == "uint8" else normalize(pixels, pre)


def scores(meta: dict, output: np.ndarray) -> np.ndarray:
    """Float32 scores; quantized outputs dequantized as (q - zero point) * scale in float32."""
    scale = meta["output"]["scale"]
    if meta["output"]["dtype"] == "float32" or scale is None:
        return output.astype(np.float32).ravel()
    return (output.astype(np.int32) - meta["output"]["zero_point"]).astype(np.float32).ravel() * np.float32(scale)


def top_k(values: np.ndarray, k: int) -> list[int]:
    """Highest first; equal scores in label order (as the app does)."""
    return sorted(range(len(values)), key=lambda i: (-values[i], i))[:k]


def spec_properties(meta: dict) -> str:
    def number(value) -> str:
        return repr(float(0.0 if value is None else value))

    lines = {"input.shape": ",".join(map(str, meta["input"]["shape"])),
             "input.type": meta["input"]["dtype"].upper(),
             "input.scale": number(meta["input"]["scale"]),
             "input.zero_point": str(meta["input"]["zero_point"]),
             "output.shape": ",".join(map(str, meta["output"]["shape"])),
             "output.type": meta["output"]["dtype"].upper(),
             "output.scale": number(meta["output"]["scale"]),
             "output.zero_point": str(meta["output"]["zero_point"]),
             "preprocessing.resize": str(meta["preprocessing"]["resize"]),
             "preprocessing.crop": str(meta["preprocessing"]["crop"])}
    if meta["input"]["normalization"] is not None:
        lines["normalization.mean"] = ",".join(map(number, meta["input"]["normalization"]["mean"]))
        lines["normalization.std"] = ",".join(map(number, meta["input"]["normalization"]["std"]))
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def write_model_vectors(model_path: Path, folder: Path, images: dict[str, np.ndarray]) -> None:
    model = model_path.read_bytes()
    try:
        meta = read_metadata(model)
    except EdgembError as e:
        raise EdgembError(f"{model_path}: {e.format_message()}") from None
    folder.mkdir()
    (folder / "model.tflite").write_bytes(model)
    (folder / "name.txt").write_text(meta["name"] or "", encoding="utf-8")
    (folder / "spec.properties").write_text(spec_properties(meta))
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in meta["labels"]), encoding="utf-8")

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    cases = []
    for name, image in images.items():
        tensor = input_tensor(meta, image)
        interpreter.set_tensor(input_index, tensor)
        interpreter.invoke()
        output = interpreter.get_tensor(output_index)
        values = scores(meta, output)
        (folder / f"{name}.rgb").write_bytes(image.tobytes())
        (folder / f"{name}.input").write_bytes(tensor.tobytes())
        (folder / f"{name}.output").write_bytes(output.tobytes())
        (folder / f"{name}.top.tsv").write_text("".join(
            f"{i}\t{float(values[i])!r}\t{meta['labels'][i]}\n" for i in top_k(values, TOP_K)), encoding="utf-8")
        cases.append(f"{name}\t{image.shape[1]}\t{image.shape[0]}\n")
    (folder / "cases.tsv").write_text("".join(cases))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to (re)write")
    parser.add_argument("models", type=Path, nargs="+", help=".tflite files with edgemb metadata")
    args = parser.parse_args()
    try:
        missing = [str(path) for path in args.models if not path.is_file()]
        if missing:
            raise EdgembError(f"no such model: {', '.join(missing)}")
        images = photos()
        with atomic_dir(args.out, force=True) as tmp:
            for number, path in enumerate(args.models):
                write_model_vectors(path, tmp / f"{number}-{path.name.removesuffix('.tflite')}", images)
    except EdgembError as e:
        sys.exit(f"Error: {e.format_message()}")


if __name__ == "__main__":
    main()
