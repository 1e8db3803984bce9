package org.edgemb.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** An RGB image: 3 bytes per pixel, rows top to bottom, no padding. */
class RgbImage(val width: Int, val height: Int, val pixels: ByteArray) {
    init {
        require(width > 0 && height > 0 && pixels.size == width * height * 3) {
            "an RGB image of ${width}x$height needs ${width * height * 3} bytes, got ${pixels.size}"
        }
    }
}

/**
 * edge_mobilenet/data/preprocess.py, line for line: the shorter side is resized to
 * `resize` pixels (bilinear, half-pixel centers, 11-bit fixed point, integers only,
 * so both sides produce the same bytes), then the center `crop` x `crop` is kept.
 * A uint8 model gets these pixels; a float32 model gets (pixel - mean) / std in
 * float32 arithmetic, little-endian, as LiteRT expects in a native-order buffer.
 */
object Preprocess {
    private const val FRACTION_BITS = 11
    private const val ONE = 1 shl FRACTION_BITS

    /** The bytes to copy into the model's input tensor for `image`. */
    fun inputTensor(spec: ModelSpec, image: RgbImage): ByteArray {
        val pixels = resizeCenterCrop(image, spec.resize, spec.crop).pixels
        val normalization = spec.normalization
        if (spec.input.type != "FLOAT32" || normalization == null) return pixels
        val out = ByteBuffer.allocate(pixels.size * 4).order(ByteOrder.LITTLE_ENDIAN)
        for (i in pixels.indices) {
            val channel = if (normalization.mean.size == 1) 0 else i % 3
            out.putFloat((pixel(pixels, i).toFloat() - normalization.mean[channel]) / normalization.std[channel])
        }
        return out.array()
    }

    /** [height, width] after scaling the shorter side to `shorter` (aspect ratio kept, rounded half up). */
    fun resizedShape(height: Int, width: Int, shorter: Int): IntArray {
        val h = height.toLong()
        val w = width.toLong()
        return if (height <= width) {
            intArrayOf(shorter, maxOf(1L, (w * shorter * 2 + h) / (2 * h)).toInt())
        } else {
            intArrayOf(maxOf(1L, (h * shorter * 2 + w) / (2 * w)).toInt(), shorter)
        }
    }

    /** Source indices and fixed-point weight of the second, for output positions start until start + count. */
    private class Taps(start: Int, count: Int, src: Int, dst: Int) {
        val first = IntArray(count)
        val second = IntArray(count)
        val weight = IntArray(count)

        init {
            for (i in 0 until count) {
                // Source coordinate (i + 0.5) * src / dst - 0.5, clamped at 0, as an exact fraction.
                val numerator = maxOf((2L * (start + i) + 1) * src - dst, 0L)
                val fixed = numerator * ONE / (2L * dst)
                first[i] = minOf(fixed shr FRACTION_BITS, src - 1L).toInt()
                second[i] = minOf(first[i] + 1, src - 1)
                weight[i] = (fixed and (ONE - 1).toLong()).toInt()
            }
        }
    }

    fun resizeCenterCrop(image: RgbImage, resize: Int, crop: Int): RgbImage {
        val newSize = resizedShape(image.height, image.width, resize)
        require(newSize[0] >= crop && newSize[1] >= crop) { "resize $resize is smaller than crop $crop" }
        val top = (newSize[0] - crop) / 2
        val left = (newSize[1] - crop) / 2
        val ys = Taps(top, crop, image.height, newSize[0])
        val xs = Taps(left, crop, image.width, newSize[1])
        val src = image.pixels
        val out = ByteArray(crop * crop * 3)
        val half = 1 shl (2 * FRACTION_BITS - 1)
        for (y in 0 until crop) {
            val row0 = ys.first[y] * image.width * 3
            val row1 = ys.second[y] * image.width * 3
            val wy = ys.weight[y]
            for (x in 0 until crop) {
                val col0 = xs.first[x] * 3
                val col1 = xs.second[x] * 3
                val wx = xs.weight[x]
                for (c in 0 until 3) {
                    val upper = pixel(src, row0 + col0 + c) * (ONE - wx) + pixel(src, row0 + col1 + c) * wx
                    val lower = pixel(src, row1 + col0 + c) * (ONE - wx) + pixel(src, row1 + col1 + c) * wx
                    val total = upper * (ONE - wy) + lower * wy // at most 255 * 2^22: fits an Int
                    out[(y * crop + x) * 3 + c] = ((total + half) shr (2 * FRACTION_BITS)).toByte()
                }
            }
        }
        return RgbImage(crop, crop, out)
    }

    private fun pixel(bytes: ByteArray, index: Int) = bytes[index].toInt() and 0xFF
}
