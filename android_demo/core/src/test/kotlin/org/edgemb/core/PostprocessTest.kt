package org.edgemb.core

import org.junit.Assert.assertEquals
import org.junit.Test

class PostprocessTest {
    private fun spec(output: TensorSpec) = ModelSpec("m", "", "", TensorSpec(intArrayOf(1, 4, 4, 3), "UINT8", 1f, 0),
        output, null, listOf("a", "b", "c", "d"), 4, 4)

    @Test
    fun dequantizesWithTheOutputsScaleAndZeroPoint() {
        val uint8 = spec(TensorSpec(intArrayOf(1, 4), "UINT8", 0.5f, 10))
        assertEquals(listOf(-5f, 0f, 0.5f, 122.5f),
            Postprocess.scores(uint8, byteArrayOf(0, 10, 11, 255.toByte())).toList())
        val int8 = spec(TensorSpec(intArrayOf(1, 4), "INT8", 0.25f, -128))
        assertEquals(listOf(0f, 32f, 63.75f, 31.75f),
            Postprocess.scores(int8, byteArrayOf(-128, 0, 127, -1)).toList())
    }

    @Test
    fun topKIsHighestFirstAndTiesInLabelOrder() {
        val top = Postprocess.topK(floatArrayOf(0.1f, 0.4f, 0.1f, 0.4f), listOf("a", "b", "c", "d"), 3)
        val expected = listOf(Classification(1, "b", 0.4f), Classification(3, "d", 0.4f), Classification(0, "a", 0.1f))
        assertEquals(expected, top)
    }

    @Test
    fun resultsHonourMaxResultsAndTheScoreThreshold() {
        val scores = floatArrayOf(0.05f, 0.6f, 0.1f, 0.25f)
        val labels = listOf("a", "b", "c", "d")
        assertEquals(listOf("b", "d"), Postprocess.results(scores, labels, 3, 0.2f).map { it.label })
        assertEquals(listOf("b"), Postprocess.results(scores, labels, 1, 0f).map { it.label })
        assertEquals(listOf("b", "d", "c", "a"), Postprocess.results(scores, labels, 10, 0f).map { it.label })
        assertEquals(emptyList<Classification>(), Postprocess.results(scores, labels, 3, 0.7f))
    }
}
