"""The same network in Keras, built from the same ArchSpec, for TFLiteConverter.

Runs only in the TensorFlow worker process (see tflite.py). BatchNorm arrives
already folded into each conv's weights and bias (fold_batchnorm), so every
conv here has a bias and no BatchNorm layer follows it.
"""
import keras
import numpy as np
from keras import layers

from ..models.spec import ArchSpec


def conv_layer(conv, x, weights: dict, name: str):
    # PyTorch pads stride-2 3x3 convs by 1 on every side; Keras "same" would pad (0, 1).
    pad = (conv.kernel - 1) // 2
    if conv.stride > 1 and pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    kernel, bias = weights[f"{name}.weight"], weights[f"{name}.bias"]
    if conv.depthwise:
        layer = layers.DepthwiseConv2D(conv.kernel, conv.stride, padding, name=name)
        x = layer(x)
        layer.set_weights([kernel.transpose(2, 3, 0, 1), bias])  # (C,1,kh,kw) -> (kh,kw,C,1)
    else:
        layer = layers.Conv2D(conv.out_channels, conv.kernel, conv.stride, padding, name=name)
        x = layer(x)
        layer.set_weights([kernel.transpose(2, 3, 1, 0), bias])  # OIHW -> HWIO
    if conv.activation:
        x = layers.ReLU(6.0 if conv.activation == "relu6" else None, name=f"{name}_{conv.activation}")(x)
    return x


def fold_normalization(weights: dict[str, np.ndarray], mean, std, center: float) -> dict[str, np.ndarray]:
    """The weights of a network that takes `pixel - center` instead of (pixel - mean) / std:
    the per-channel normalization folded into the first conv. Exact except where that conv
    reads its zero padding: PyTorch pads with the mean pixel, this network with `center`."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    kernel = weights["conv0.weight"] / std[None, :, None, None]
    bias = weights["conv0.bias"] - (kernel * (mean - center)[None, :, None, None]).sum(axis=(1, 2, 3))
    return weights | {"conv0.weight": kernel, "conv0.bias": bias}


def build_keras_model(spec: ArchSpec, resolution: int, weights: dict[str, np.ndarray],
                      mean=None, std=None) -> keras.Model:
    """NHWC Keras twin of the PyTorch model, ending in softmax probabilities.

    weights: the folded conv weights in conv order, keyed "convN.weight"/"convN.bias",
    plus "classifier.weight"/"classifier.bias" (see quantization.folded_weights).
    mean, std: per-channel normalization in pixel units, applied inside the model, which
    then takes raw 0..255 pixels; without them the weights already expect what comes in.
    """
    inputs = keras.Input((resolution, resolution, 3), batch_size=1, name="image")
    x = inputs
    if mean is not None:
        # (pixel - mean) / std as a 1x1 depthwise conv (exact, unlike folding into the
        # first conv: PyTorch zero-pads the normalized image, i.e. pads with the mean pixel).
        normalize = layers.DepthwiseConv2D(1, name="normalize")
        x = normalize(x)
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        normalize.set_weights([(1 / std).reshape(1, 1, 3, 1), -mean / std])
    index = 0
    for b, block in enumerate(spec.blocks):
        shortcut = x
        for conv in block.convs:
            x = conv_layer(conv, x, weights, f"conv{index}")
            index += 1
        if block.residual:
            x = layers.Add(name=f"block{b}_add")([shortcut, x])
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    dense = layers.Dense(spec.num_classes, name="classifier")
    x = dense(x)
    dense.set_weights([weights["classifier.weight"].T, weights["classifier.bias"]])
    outputs = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=spec.name)
