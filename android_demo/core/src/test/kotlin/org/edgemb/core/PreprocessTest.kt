package org.edgemb.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class PreprocessTest {
    private val photo: RgbImage get() = TestData.goldenModels[0].cases.first { it.name == "chelsea" }.image

    @Test
    fun shorterSideAndRounding() {
        assertArrayEquals(intArrayOf(256, 385), Preprocess.resizedShape(300, 451, 256))
        assertArrayEquals(intArrayOf(385, 256), Preprocess.resizedShape(451, 300, 256))
        assertArrayEquals(intArrayOf(37, 37), Preprocess.resizedShape(28, 28, 37))
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
