package org.edgemb.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class PreprocessTest {
    private val photo: RgbImage get() = TestData.goldenModels[0].cases.first { it.name == "chelsea" }.image

    @Test
    fun shorterSideAndRounding() {
        assertArrayEquals(intArrayOf(256, 385), Preprocess.resizedShape(300, 451, 256))
        assertArrayEquals(intArrayOf(385, 256), Preprocess.resizedShape(451, 300, 256))
        assertArrayEquals(intArrayOf(37, 37), Preprocess.resizedShape(28, 28, 37))
    }

    private fun gray(width: Int, height: Int, value: (Int, Int) -> Int) =
        RgbImage(width, height, ByteArray(width * height * 3) { value((it / 3) % width, it / 3 / width).toByte() })

    private fun firstChannel(image: RgbImage) = List(image.width * image.height) { image.pixels[it * 3].toInt() and 0xFF }

    /** The same hand-computed values as tests/test_preprocess.py (worked out there). */
    @Test
    fun handComputedValues() {
        val checkerboard = gray(4, 4) { x, y -> (x + y) % 2 * 255 }
        assertEquals(listOf(125, 130, 130, 125), firstChannel(Preprocess.resizeCenterCrop(checkerboard, 2, 2)))
        val flat = gray(700, 1000) { _, _ -> 201 }
        assertEquals(setOf(201), firstChannel(Preprocess.resizeCenterCrop(flat, 97, 97)).toSet())
        val ramp = gray(2, 2) { x, _ -> x * 255 }
        assertEquals(listOf(0, 64, 191, 255), firstChannel(Preprocess.resizeCenterCrop(ramp, 4, 4)).take(4))
    }

    @Test
    fun fineDetailAveragesOutInsteadOfAliasing() {
        val checkerboard = gray(1200, 1200) { x, y -> (x + y) % 2 * 255 }
        fun std(values: List<Int>): Double {
            val mean = values.average()
            return Math.sqrt(values.sumOf { (it - mean) * (it - mean) } / values.size)
        }
        assertTrue(std(firstChannel(Preprocess.resizeCenterCrop(checkerboard, 128, 112))) < 8)
        assertTrue(std(firstChannel(Preprocess.resizeCenterCrop(checkerboard, 128, 112, Preprocess.BILINEAR))) > 30)
    }

    @Test
    fun identitySizeIsAPlainCenterCrop() {
        val image = photo // 451 x 300
        val out = Preprocess.resizeCenterCrop(image, image.height, image.height)
        val left = (image.width - image.height) / 2
        for (y in 0 until out.height) {
            for (x in 0 until out.width * 3) {
                assertEquals(image.pixels[(y * image.width + left) * 3 + x], out.pixels[y * out.width * 3 + x])
            }
        }
    }
}
