"""Golden vectors for the Android core module's JVM tests (android_demo/core/src/test).

For each model given: a copy of it, what read_metadata finds in it (name.txt,
spec.properties, labels.txt) and, for real photos of several shapes (large ones
shrunk 4x and more, camera-sized frames delivered sideways with their rotation,
small ones scaled up), the raw RGB pixels as the camera or file gives them
(.rgb), the input tensor edgemb's preprocessing makes from them (.input), the
model's output tensor from LiteRT (.output) and its top classes (.top.tsv:
index, score, label). The Kotlin tests must read the same metadata, reproduce
every input tensor byte for byte and find the same top classes in the same
outputs, so they fail when either side changes its preprocessing.

An oracle that is not edgemb's code: .pillow holds Pillow's antialiased
bilinear resize of the same upright image, center-cropped. Both sides must stay
within one grey level of it (tests/test_preprocess.py, PreprocessTest.kt).

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
from edge_mobilenet.data.preprocess import Preprocessing, normalize, preprocess, resized_shape
from edge_mobilenet.errors import EdgembError
from edge_mobilenet.tflite_metadata import read_metadata
from edge_mobilenet.io import atomic_dir

TOP_K = 3
PHOTO_DIR = Path(skimage.__file__).parent / "data"


def load_photo(name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A scikit-image photo as RGB, optionally resized (Pillow, bicubic) to size = (width, height)."""
    image = Image.open(next(PHOTO_DIR.glob(f"{name}.*"))).convert("RGB")
    return np.asarray(image if size is None else image.resize(size, Image.BICUBIC))


def photos() -> dict[str, tuple[np.ndarray, int]]:
    """Real RGB photos and the clockwise rotation that makes them upright: landscape, square,
    portrait, large ones (a phone photo shrinks 4x or more), camera frames delivered sideways
    as CameraX does, and small ones that get scaled up."""
    chelsea, coffee = load_photo("chelsea"), load_photo("coffee")
    fashion = load_fashion_mnist("test")[0][0]
    upright = {"chelsea": chelsea, "coffee": coffee, "astronaut": load_photo("astronaut"),
               "chelsea_portrait": np.ascontiguousarray(chelsea[:, 120:320]),
               "astronaut_1536": load_photo("astronaut", (1536, 1536)),
               "coffee_1800x1200": load_photo("coffee", (1800, 1200)),
               "coffee_patch": np.ascontiguousarray(coffee[100:128, 200:228]),
               "fashion_mnist": np.repeat(fashion[:, :, None], 3, axis=2)}
    frames = {"camera_640x480_rot90": (load_photo("chelsea", (640, 480)), 90),
              "camera_1280x720_rot270": (load_photo("astronaut", (1280, 720)), 270),
              "camera_1280x720": (load_photo("coffee", (1280, 720)), 0)}
    return {**{name: (image, 0) for name, image in upright.items()}, **frames}


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """The frame turned `rotation` degrees clockwise, as CameraFrame.uprightRgb does."""
    return np.ascontiguousarray(np.rot90(frame, -(rotation // 90)))


def pillow_oracle(image: np.ndarray, pre: dict) -> np.ndarray:
    """Pillow's antialiased bilinear resize (shorter side to resize), center crop."""
    height, width = image.shape[:2]
    new_h, new_w = resized_shape(height, width, pre["resize"])
    top, left, crop = (new_h - pre["crop"]) // 2, (new_w - pre["crop"]) // 2, pre["crop"]
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    return np.ascontiguousarray(resized[top:top + crop, left:left + crop])


def input_tensor(meta: dict, image: np.ndarray) -> np.ndarray:
    """[1, crop, crop, 3]: uint8 pixels; int8 ones quantized with the input's scale and zero point
    (round half to even, in float32); or float32 normalized with the model's own mean and std."""
    normalization = meta["input"]["normalization"]
    pre = Preprocessing(crop=meta["preprocessing"]["crop"], resize=meta["preprocessing"]["resize"],
                        interpolation=meta["preprocessing"]["interpolation"],
                        **({} if normalization is None else
                           {"mean": tuple(normalization["mean"]), "std": tuple(normalization["std"])}))
    pixels = preprocess(image, pre)[None]
    if meta["input"]["dtype"] == "int8":
        quantized = np.rint(pixels.astype(np.float32) / np.float32(meta["input"]["scale"]))
        return np.clip(quantized + meta["input"]["zero_point"], -128, 127).astype(np.int8)
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
             "preprocessing.crop": str(meta["preprocessing"]["crop"]),
             "preprocessing.interpolation": meta["preprocessing"]["interpolation"]}
    if meta["input"]["normalization"] is not None:
        lines["normalization.mean"] = ",".join(map(number, meta["input"]["normalization"]["mean"]))
        lines["normalization.std"] = ",".join(map(number, meta["input"]["normalization"]["std"]))
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def write_model_vectors(model_path: Path, folder: Path, images: dict[str, tuple[np.ndarray, int]]) -> None:
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
    for name, (frame, rotation) in images.items():
        image = upright(frame, rotation)
        tensor = input_tensor(meta, image)
        interpreter.set_tensor(input_index, tensor)
        interpreter.invoke()
        output = interpreter.get_tensor(output_index)
        values = scores(meta, output)
        (folder / f"{name}.rgb").write_bytes(frame.tobytes())
        (folder / f"{name}.pillow").write_bytes(pillow_oracle(image, meta["preprocessing"]).tobytes())
        (folder / f"{name}.input").write_bytes(tensor.tobytes())
        (folder / f"{name}.output").write_bytes(output.tobytes())
        (folder / f"{name}.top.tsv").write_text("".join(
            f"{i}\t{float(values[i])!r}\t{meta['labels'][i]}\n" for i in top_k(values, TOP_K)), encoding="utf-8")
        cases.append(f"{name}\t{frame.shape[1]}\t{frame.shape[0]}\t{rotation}\n")
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
