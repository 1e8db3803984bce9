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
 * `resize` pixels, then the center `crop` x `crop` is kept. Integers only, so both
 * sides produce the same bytes. Along an axis that grows: bilinear between the two
 * nearest source pixels (half-pixel centers, 11-bit fixed point). Along an axis that
 * shrinks (with [ANTIALIASED]): a triangle-weighted average of every source pixel
 * within one output pixel's width, Pillow's antialiased bilinear, so fine detail
 * averages out instead of aliasing.
 * A uint8 model gets these pixels; an int8 model gets them quantized with its input's scale and
 * zero point (pixel - 128 for ours); a float32 model gets
 * (pixel - mean) / std in float32 arithmetic, little-endian, as LiteRT expects in a
 * native-order buffer.
 */
object Preprocess {
    private const val FRACTION_BITS = 11
    private const val ONE = 1 shl FRACTION_BITS

    /** The resize methods a model may name; [BILINEAR] (two taps also when shrinking) is the older one. */
    const val ANTIALIASED = "antialiased-bilinear-fixed11"
    const val BILINEAR = "bilinear-fixed11"
    val INTERPOLATIONS = listOf(ANTIALIASED, BILINEAR)

    /** The bytes to copy into the model's input tensor for `image`. */
    fun inputTensor(spec: ModelSpec, image: RgbImage): ByteArray {
        val pixels = resizeCenterCrop(image, spec.resize, spec.crop, spec.interpolation).pixels
        if (spec.input.type == "INT8") { // quantized pixels: round half to even of pixel / scale, plus zero point
            val scale = spec.input.scale
            return ByteArray(pixels.size) {
                val q = Math.rint((pixel(pixels, it).toFloat() / scale).toDouble()).toInt() + spec.input.zeroPoint
                q.coerceIn(-128, 127).toByte()
            }
        }
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

    /** For output positions start until start + count: `taps` source indices each, with fixed-point weights summing to ONE. */
    private class Taps(val taps: Int, count: Int) {
        val index = IntArray(count * taps)
        val weight = IntArray(count * taps)
    }

    /** Source coordinate (i + 0.5) * src / dst - 0.5, clamped at 0, as an exact fraction; its two neighbours. */
    private fun bilinearTaps(start: Int, count: Int, src: Int, dst: Int): Taps {
        val out = Taps(2, count)
        for (i in 0 until count) {
            val numerator = maxOf((2L * (start + i) + 1) * src - dst, 0L)
            val fixed = numerator * ONE / (2L * dst)
            val first = minOf(fixed shr FRACTION_BITS, src - 1L).toInt()
            val weight = (fixed and (ONE - 1).toLong()).toInt()
            out.index[2 * i] = first
            out.index[2 * i + 1] = minOf(first + 1, src - 1)
            out.weight[2 * i] = ONE - weight
            out.weight[2 * i + 1] = weight
        }
        return out
    }

    /**
     * Shrinking (src > dst): source pixel j weighs 2 * src - |(2j + 1) * dst - (2i + 1) * src| (the triangle
     * 1 - distance * dst / src with both centers doubled), pixels outside the image left out, scaled to sum to
     * exactly ONE by rounding the running sums.
     */
    private fun triangleTaps(start: Int, count: Int, src: Int, dst: Int): Taps {
        val out = Taps((2 * src + dst - 1) / dst + 4, count)
        val raw = LongArray(out.taps)
        for (n in 0 until count) {
            val i = (start + n).toLong()
            val first = Math.floorDiv((2 * i - 1) * src, 2L * dst) - 1
            var total = 0L
            for (k in 0 until out.taps) {
                val j = first + k
                raw[k] = if (j < 0 || j >= src) 0L else maxOf(2L * src - Math.abs((2 * j + 1) * dst - (2 * i + 1) * src), 0L)
                total += raw[k]
            }
            var running = 0L
            var previous = 0L
            for (k in 0 until out.taps) {
                running += raw[k]
                val rounded = (2 * running * ONE + total) / (2 * total)
                out.index[n * out.taps + k] = (first + k).coerceIn(0L, src - 1L).toInt()
                out.weight[n * out.taps + k] = (rounded - previous).toInt()
                previous = rounded
            }
        }
        return out
    }

    private fun taps(start: Int, count: Int, src: Int, dst: Int, interpolation: String): Taps =
        if (src > dst && interpolation == ANTIALIASED) triangleTaps(start, count, src, dst)
        else bilinearTaps(start, count, src, dst)

    fun resizeCenterCrop(image: RgbImage, resize: Int, crop: Int, interpolation: String = ANTIALIASED): RgbImage {
        require(interpolation in INTERPOLATIONS) { "unknown interpolation $interpolation" }
        val newSize = resizedShape(image.height, image.width, resize)
        require(newSize[0] >= crop && newSize[1] >= crop) { "resize $resize is smaller than crop $crop" }
        val top = (newSize[0] - crop) / 2
        val left = (newSize[1] - crop) / 2
        val ys = taps(top, crop, image.height, newSize[0], interpolation)
        val xs = taps(left, crop, image.width, newSize[1], interpolation)
        val src = image.pixels
        // Horizontal pass on every source row, kept at full precision (at most 255 * ONE), then the
        // vertical pass, rounded once: at most 255 * 2^22 + 2^21, which fits an Int.
        val across = IntArray(image.height * crop * 3)
        val rowNeeded = BooleanArray(image.height)
        for (t in ys.index.indices) if (ys.weight[t] != 0) rowNeeded[ys.index[t]] = true
        for (y in 0 until image.height) {
            if (!rowNeeded[y]) continue
            val row = y * image.width * 3
            for (x in 0 until crop) {
                for (k in 0 until xs.taps) {
                    val w = xs.weight[x * xs.taps + k]
                    if (w == 0) continue
                    val from = row + xs.index[x * xs.taps + k] * 3
                    val to = (y * crop + x) * 3
                    for (c in 0 until 3) across[to + c] += pixel(src, from + c) * w
                }
            }
        }
        val out = ByteArray(crop * crop * 3)
        val half = 1 shl (2 * FRACTION_BITS - 1)
        for (y in 0 until crop) {
            for (x in 0 until crop) {
                for (c in 0 until 3) {
                    var total = 0
                    for (k in 0 until ys.taps) {
                        total += across[(ys.index[y * ys.taps + k] * crop + x) * 3 + c] * ys.weight[y * ys.taps + k]
                    }
                    out[(y * crop + x) * 3 + c] = ((total + half) shr (2 * FRACTION_BITS)).toByte()
                }
            }
        }
        return RgbImage(crop, crop, out)
    }

    private fun pixel(bytes: ByteArray, index: Int) = bytes[index].toInt() and 0xFF
}
