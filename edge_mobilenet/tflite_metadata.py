"""TFLite Model Metadata: the class names, normalization and resize policy that a
.tflite carries, so that the Android demo app, MediaPipe and the Task Library
can use any exported model without code changes.

The layout those readers expect: a model buffer named TFLITE_METADATA holds a
ModelMetadata flatbuffer ("M001"); the files it names are appended to the model
as an uncompressed zip. We write two files:
- labels.txt (TENSOR_AXIS_LABELS of the output): class names, one per line;
- preprocessing.properties (model level): `resize` and `crop`, i.e. "scale the
  shorter side to `resize` pixels, then center crop `crop` x `crop`" with
  edge_mobilenet/data/preprocess.py's resize named by `interpolation`. Plain
  key=value lines that java.util.Properties reads on the phone.

`read_metadata` applies the same rules, in the same order and with the same
messages, as android_demo/core's ModelReader: a model it accepts, the app accepts.
"""
import importlib.util
import io
import zipfile
from pathlib import Path

import flatbuffers
import numpy as np

from .data.preprocess import BILINEAR, INTERPOLATIONS, Preprocessing
from .errors import EdgembError

METADATA_BUFFER = "TFLITE_METADATA"
LABELS_FILE = "labels.txt"
PREPROCESSING_FILE = "preprocessing.properties"
MIN_PARSER_VERSION = "1.0.0"  # every field written here exists since metadata schema 1.0.0
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model always gives the same bytes


def _schema_module(name: str):
    """One of mediapipe's flatc-generated schema modules, loaded from its file:
    importing it through the mediapipe package would first import all of
    MediaPipe's tasks (seconds), and mediapipe's __init__ shadows the path."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise EdgembError("package mediapipe is not installed; install it with: "
                          "pip install mediapipe==1.0.1 (make setup does this)")
    path = Path(spec.submodule_search_locations[0]) / "tasks" / "metadata" / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(f"edgemb_{name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


_tflite = _schema_module("schema_py_generated")
_meta = _schema_module("metadata_schema_py_generated")
TYPE_NAMES = {value: name for name, value in vars(_tflite.TensorType).items() if not name.startswith("_")}


def add_metadata(model: bytes, *, name: str, description: str, version: str,
                 class_names: list[str], preprocessing: Preprocessing, author: str = "edgemb") -> bytes:
    """The .tflite bytes with image-classifier metadata and labels attached
    (any metadata already there is replaced)."""
    model_t = _unpack(model)
    image, scores = _io_tensors(model_t)
    size = _check_input(image)
    classes = _check_output(scores)
    if size != preprocessing.crop:
        raise EdgembError(f"the model's input is {size}x{size} but the preprocessing crops "
                          f"{preprocessing.crop}x{preprocessing.crop}")
    if len(class_names) != classes:
        raise EdgembError(f"{len(class_names)} class names given but the model has {classes} outputs")
    if any(not c.strip() or c.split("\n") != [c] or "\r" in c for c in class_names):
        raise EdgembError("class names must be non-empty single lines")
    metadata, files = build_metadata(name=name, description=description, version=version, author=author,
                                     class_names=class_names, preprocessing=preprocessing,
                                     normalized_input=image["dtype"] == "float32")
    return attach_metadata(model, metadata, files)


def build_metadata(*, name: str, description: str, version: str, author: str, class_names: list[str],
                   preprocessing: Preprocessing, normalized_input: bool):
    """(ModelMetadataT, {file name: bytes}) for an image classifier, unchecked.
    `normalized_input`: the model takes (pixel - mean) / std floats, not raw pixels."""
    image = _meta.TensorMetadataT()
    image.name = "image"
    image.content = _content(_meta.ContentProperties.ImageProperties,
                             _image_properties(_meta.ColorSpaceType.RGB))
    if normalized_input:
        mean = np.asarray(preprocessing.mean, np.float32)
        std = np.asarray(preprocessing.std, np.float32)
        if len(set(mean.tolist())) == 1 and len(set(std.tolist())) == 1:
            mean, std = mean[:1], std[:1]  # one value for all channels: all MediaPipe accepts
        image.description = "RGB pixels normalized as (pixel - mean) / std"
        image.processUnits = [_normalization(mean, std)]
        image.stats = _stats(minimum=(0 - mean) / std, maximum=(255 - mean) / std)
    else:
        image.description = "RGB pixels 0-255 (normalization is inside the model)"
        image.stats = _stats(minimum=[0.0], maximum=[255.0])

    probabilities = _meta.TensorMetadataT()
    probabilities.name = "probability"
    probabilities.description = "Probabilities of the classes in labels.txt"
    probabilities.content = _content(_meta.ContentProperties.FeatureProperties, _meta.FeaturePropertiesT())
    probabilities.stats = _stats(minimum=[0.0], maximum=[1.0])
    probabilities.associatedFiles = [_associated_file(
        LABELS_FILE, "Class names, one per line, in output order", _meta.AssociatedFileType.TENSOR_AXIS_LABELS)]

    subgraph = _meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [probabilities]

    metadata = _meta.ModelMetadataT()
    metadata.name, metadata.description, metadata.version, metadata.author = name, description, version, author
    metadata.subgraphMetadata = [subgraph]
    metadata.associatedFiles = [_associated_file(
        PREPROCESSING_FILE, "Resize the shorter side to `resize`, then center crop `crop` (pixels)",
        _meta.AssociatedFileType.DESCRIPTIONS)]
    metadata.minParserVersion = MIN_PARSER_VERSION
    files = {LABELS_FILE: "".join(f"{c}\n" for c in class_names).encode(),
             PREPROCESSING_FILE: _preprocessing_properties(preprocessing).encode()}
    return metadata, files


def attach_metadata(model: bytes, metadata, files: dict[str, bytes]) -> bytes:
    """The model flatbuffer with `metadata` as its TFLITE_METADATA buffer and `files`
    appended as a zip (stored, not compressed, as MediaPipe requires)."""
    model_t = _unpack(model)
    if any(buffer.offset > 1 for buffer in model_t.buffers or []):
        raise EdgembError("models with weights outside the flatbuffer (over 2 GB) are not supported")
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), file_identifier=b"M001")
    metadata_bytes = np.frombuffer(bytes(builder.Output()), np.uint8)

    entry = next((m for m in model_t.metadata or [] if _text(m.name) == METADATA_BUFFER), None)
    if entry is None:
        model_t.buffers.append(_tflite.BufferT())
        entry = _tflite.MetadataT()
        entry.name, entry.buffer = METADATA_BUFFER, len(model_t.buffers) - 1
        model_t.metadata = (model_t.metadata or []) + [entry]
    model_t.buffers[entry.buffer].data = metadata_bytes

    builder = flatbuffers.Builder(len(model) + len(metadata_bytes) + 1024)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    out = io.BytesIO()
    out.write(builder.Output())
    with zipfile.ZipFile(out, "a") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), data)
    return out.getvalue()


def read_metadata(model: bytes) -> dict:
    """What the Android app reads from a .tflite, checked by the app's rules:
    {name, description, version, author, input: {shape, dtype, scale, zero_point,
    normalization: {mean, std} | None}, output: {shape, dtype, scale, zero_point},
    labels, preprocessing: {resize, crop, interpolation}, associated_files}. A model the app
    could not use raises EdgembError saying why."""
    model_t = _unpack(model)
    entry = next((m for m in model_t.metadata or [] if _text(m.name) == METADATA_BUFFER), None)
    if entry is None:
        raise EdgembError("the model has no TFLite metadata (labels, normalization); "
                          "export it with edgemb export, which adds them")
    metadata_bytes = _buffer_bytes(model_t, entry.buffer)
    if metadata_bytes[4:8] != b"M001":
        raise EdgembError("the model's TFLITE_METADATA is not a ModelMetadata flatbuffer")
    try:
        metadata = _meta.ModelMetadataT.InitFromPackedBuf(metadata_bytes, 0)
    except Exception as e:  # as in _unpack
        raise EdgembError(f"the TFLite model is damaged ({type(e).__name__})") from None
    image, scores = _io_tensors(model_t)
    size = _check_input(image)
    classes = _check_output(scores)
    subgraphs = metadata.subgraphMetadata or []
    if not subgraphs or len(subgraphs[0].inputTensorMetadata or []) != 1 \
            or len(subgraphs[0].outputTensorMetadata or []) != 1:
        raise EdgembError("the metadata does not describe the model's input and output tensors")
    image_meta, scores_meta = subgraphs[0].inputTensorMetadata[0], subgraphs[0].outputTensorMetadata[0]

    image["normalization"] = _read_normalization(image_meta)
    if image["dtype"] == "float32" and image["normalization"] is None:
        raise EdgembError("the float32 input has no NormalizationOptions (mean, std) in its metadata")

    archive = _attached_files(model)
    labels_file = next((f for f in scores_meta.associatedFiles or []
                        if f.type == _meta.AssociatedFileType.TENSOR_AXIS_LABELS), None)
    if labels_file is None:
        raise EdgembError("the output has no labels file (TENSOR_AXIS_LABELS) in the metadata")
    labels = _read_labels(_text(labels_file.name), archive)
    if len(labels) != classes:
        raise EdgembError(f"{_text(labels_file.name)} has {len(labels)} labels but the output "
                          f"has {classes} scores")

    model_files = [_text(f.name) for f in metadata.associatedFiles or []]
    if PREPROCESSING_FILE in model_files:
        preprocessing = _read_preprocessing(_attached(PREPROCESSING_FILE, archive), size)
    else:  # a model from elsewhere: no resize margin, the center square scaled to the input
        preprocessing = {"resize": size, "crop": size, "interpolation": Preprocessing(size, size).interpolation}
    return {"name": _text(metadata.name), "description": _text(metadata.description),
            "version": _text(metadata.version), "author": _text(metadata.author),
            "input": image, "output": scores, "labels": labels,
            "preprocessing": preprocessing, "associated_files": sorted(archive)}


def _unpack(model: bytes):
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise EdgembError("not a TFLite model (no TFL3 file identifier)")
    try:
        return _tflite.ModelT.InitFromPackedBuf(model, 0)
    except Exception as e:  # flatbuffers raises struct.error, IndexError... on damaged files
        raise EdgembError(f"the TFLite model is damaged ({type(e).__name__})") from None


def _io_tensors(model_t) -> tuple[dict, dict]:
    graph = model_t.subgraphs[0] if model_t.subgraphs else None
    inputs = [] if graph is None or graph.inputs is None else list(graph.inputs)
    outputs = [] if graph is None or graph.outputs is None else list(graph.outputs)
    if len(inputs) != 1 or len(outputs) != 1:
        raise EdgembError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                          "an image classifier has one of each")
    tensors = graph.tensors or []
    if not all(0 <= i < len(tensors) for i in inputs + outputs):
        raise EdgembError("the TFLite model is damaged (IndexError)")
    return _tensor_info(tensors[inputs[0]]), _tensor_info(tensors[outputs[0]])


def _tensor_info(tensor) -> dict:
    quantization = tensor.quantization
    scale = None if quantization is None or quantization.scale is None or not len(quantization.scale) \
        else float(quantization.scale[0])
    zero_point = 0 if scale is None or quantization.zeroPoint is None or not len(quantization.zeroPoint) \
        else int(quantization.zeroPoint[0])
    shape = [] if tensor.shape is None else [int(d) for d in tensor.shape]
    return {"shape": shape, "dtype": TYPE_NAMES.get(tensor.type, str(tensor.type)).lower(),
            "scale": scale, "zero_point": zero_point}


def _check_input(image: dict) -> int:
    """The side of the square RGB input, or EdgembError."""
    shape = image["shape"]
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3 or shape[1] < 1 or shape[2] < 1:
        raise EdgembError(f"the input tensor has shape {shape}; an image classifier takes "
                          "[1, height, width, 3] RGB pixels")
    if shape[1] != shape[2]:
        raise EdgembError(f"the input is {shape[1]}x{shape[2]}; only square inputs are supported")
    if image["dtype"] not in ("uint8", "int8", "float32"):
        raise EdgembError(f"input type {image['dtype'].upper()} is not supported; "
                          "export with uint8 (quantized), int8 or float32 input")
    if image["dtype"] == "int8" and not (image["scale"] or 0) > 0:
        raise EdgembError("the int8 input has no quantization scale; the app cannot map pixels to it")
    return shape[1]


def _check_output(scores: dict) -> int:
    """The number of classes, or EdgembError."""
    shape = scores["shape"]
    if len(shape) != 2 or shape[0] != 1 or shape[1] < 1:
        raise EdgembError(f"the output tensor has shape {shape}; expected [1, number of classes]")
    if scores["dtype"] not in ("uint8", "int8", "float32"):
        raise EdgembError(f"output type {scores['dtype'].upper()} is not supported; "
                          "expected uint8, int8 or float32 scores")
    return shape[1]


def _read_normalization(image_meta) -> dict | None:
    for unit in image_meta.processUnits or []:
        if unit.optionsType == _meta.ProcessUnitOptions.NormalizationOptions:
            options = unit.options
            mean = [] if options.mean is None else [float(v) for v in options.mean]
            std = [] if options.std is None else [float(v) for v in options.std]
            if len(mean) not in (1, 3) or len(std) != len(mean) or 0.0 in std:
                raise EdgembError("the input's NormalizationOptions need 1 or 3 means and as many "
                                  "non-zero stds")
            return {"mean": mean, "std": std}
    return None


def _attached_files(model: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(model)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}


def _attached(name: str, archive: dict[str, bytes]) -> bytes:
    if name not in archive:
        raise EdgembError(f"{name} is named in the metadata but not attached to the model")
    return archive[name]


def _read_labels(name: str, archive: dict[str, bytes]) -> list[str]:
    try:
        text = _attached(name, archive).decode("utf-8")
    except UnicodeDecodeError:
        raise EdgembError(f"{name} is not UTF-8 text") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    labels = [line.removesuffix("\r") for line in lines]
    if not any(label.strip() for label in labels):
        raise EdgembError(f"{name} is empty")
    return labels


def _read_preprocessing(data: bytes, size: int) -> dict:
    values = {}
    for line in data.decode("latin-1").splitlines():
        line = line.strip()
        if line and line[0] not in "#!" and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    try:
        resize, crop = int(values["resize"]), int(values["crop"])
    except (KeyError, ValueError):
        raise EdgembError(f"{PREPROCESSING_FILE} needs integer resize and crop values") from None
    interpolation = values.get("interpolation", BILINEAR)  # the only method before the key could vary
    if interpolation not in INTERPOLATIONS:
        raise EdgembError(f"{PREPROCESSING_FILE} asks for {interpolation} interpolation; "
                          f"only {', '.join(INTERPOLATIONS)} are implemented")
    if crop != size:
        raise EdgembError(f"{PREPROCESSING_FILE} says crop {crop} but the input is {size}x{size}")
    if resize < crop:
        raise EdgembError(f"{PREPROCESSING_FILE} says resize {resize}, smaller than crop {crop}")
    return {"resize": resize, "crop": crop, "interpolation": interpolation}


def _preprocessing_properties(pre: Preprocessing) -> str:
    return ("# How to turn a photo into this model's input (edgemb, data/preprocess.py):\n"
            "# scale the shorter side to `resize` pixels (integer fixed point, half-pixel centers;\n"
            f"# {pre.interpolation}), then take the center `crop` x `crop` square.\n"
            f"resize={pre.resize}\ncrop={pre.crop}\ninterpolation={pre.interpolation}\n")


def _buffer_bytes(model_t, index: int) -> bytes:
    buffers = model_t.buffers or []
    if not 0 <= index < len(buffers) or buffers[index].data is None:
        raise EdgembError("the model's TFLITE_METADATA buffer is missing")
    return bytes(buffers[index].data)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _content(kind: int, properties):
    content = _meta.ContentT()
    content.contentPropertiesType, content.contentProperties = kind, properties
    return content


def _image_properties(color_space: int):
    properties = _meta.ImagePropertiesT()
    properties.colorSpace = color_space
    return properties


def _normalization(mean: np.ndarray, std: np.ndarray):
    options = _meta.NormalizationOptionsT()
    options.mean, options.std = mean.tolist(), std.tolist()
    unit = _meta.ProcessUnitT()
    unit.optionsType, unit.options = _meta.ProcessUnitOptions.NormalizationOptions, options
    return unit


def _stats(minimum, maximum):
    stats = _meta.StatsT()
    stats.min, stats.max = [float(v) for v in minimum], [float(v) for v in maximum]
    return stats


def _associated_file(name: str, description: str, kind: int):
    file = _meta.AssociatedFileT()
    file.name, file.description, file.type = name, description, kind
    return file
