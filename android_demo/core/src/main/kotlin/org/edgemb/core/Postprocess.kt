package org.edgemb.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** One class and its score (a probability for edgemb models). */
data class Classification(val index: Int, val label: String, val score: Float)

object Postprocess {
    /** The output tensor's bytes as float scores: quantized ones are dequantized, (q - zero point) * scale. */
    fun scores(spec: ModelSpec, output: ByteArray): FloatArray {
        val tensor = spec.output
        require(output.size == tensor.byteSize) { "the output has ${output.size} bytes, expected ${tensor.byteSize}" }
        val count = tensor.shape[1]
        return when (tensor.type) {
            "FLOAT32" -> {
                val floats = ByteBuffer.wrap(output).order(ByteOrder.LITTLE_ENDIAN)
                FloatArray(count) { floats.getFloat(4 * it) }
            }
            "UINT8" -> FloatArray(count) { ((output[it].toInt() and 0xFF) - tensor.zeroPoint).toFloat() * tensor.scale }
            "INT8" -> FloatArray(count) { (output[it].toInt() - tensor.zeroPoint).toFloat() * tensor.scale }
            else -> throw IllegalArgumentException("output type ${tensor.type}")
        }
    }

    /** The `k` best classes, highest score first; equal scores in label order. */
    fun topK(scores: FloatArray, labels: List<String>, k: Int): List<Classification> =
        scores.indices
            .sortedWith(Comparator { a, b -> if (scores[a] != scores[b]) scores[b].compareTo(scores[a]) else a - b })
            .take(k)
            .map { Classification(it, labels[it], scores[it]) }

    /** What the app lists: at most `maxResults` classes scoring at least `threshold`, best first. */
    fun results(scores: FloatArray, labels: List<String>, maxResults: Int, threshold: Float): List<Classification> =
        topK(scores, labels, maxResults).filter { it.score >= threshold }
}
