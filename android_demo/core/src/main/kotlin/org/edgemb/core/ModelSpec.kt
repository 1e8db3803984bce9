package org.edgemb.core

/** Why a model cannot be used, in one line the app shows instead of crashing. */
class ModelError(message: String) : Exception(message)

/** A tensor's shape, element type ("UINT8", "FLOAT32", ...) and quantization (scale 0: none). */
class TensorSpec(val shape: IntArray, val type: String, val scale: Float, val zeroPoint: Int) {
    val elementBytes: Int get() = if (type == "FLOAT32") 4 else 1
    val byteSize: Int get() = shape.fold(elementBytes) { product, dimension -> product * dimension }
}

/** Float input = (pixel - mean) / std per channel, in pixel units (0-255); 1 or 3 values. */
class Normalization(val mean: FloatArray, val std: FloatArray)

/**
 * Everything the app needs to run an image classifier, read from the model itself:
 * photos are resized so the shorter side is `resize` pixels (by `interpolation`, one of
 * [Preprocess.INTERPOLATIONS]), center-cropped to `crop` x `crop` (the input size), then fed
 * as uint8 pixels, quantized int8 pixels or, for a float32 input, normalized; the output
 * holds one score per label.
 */
class ModelSpec(
    val name: String,
    val description: String,
    val version: String,
    val input: TensorSpec,
    val output: TensorSpec,
    val normalization: Normalization?,
    val labels: List<String>,
    val resize: Int,
    val crop: Int,
    val interpolation: String = Preprocess.ANTIALIASED
)
