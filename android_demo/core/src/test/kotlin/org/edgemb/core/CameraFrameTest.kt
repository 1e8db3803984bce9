package org.edgemb.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

class CameraFrameTest {
    private val photo: RgbImage get() = TestData.goldenModels[0].cases.first { it.name == "chelsea" }.image

    /** `image` as a camera would deliver it: RGBA with `padding` spare bytes after each row. */
    private fun rgba(image: RgbImage, padding: Int): ByteArray {
        val stride = image.width * 4 + padding
        val out = ByteArray(stride * image.height)
        for (y in 0 until image.height) for (x in 0 until image.width) {
            for (c in 0 until 3) out[y * stride + x * 4 + c] = image.pixels[(y * image.width + x) * 3 + c]
            out[y * stride + x * 4 + 3] = 0xFF.toByte()
        }
        return out
    }

    private fun turn(image: RgbImage, degrees: Int) =
        CameraFrame.uprightRgb(rgba(image, 12), image.width, image.height, image.width * 4 + 12, degrees)

    @Test
    fun dropsAlphaAndRowPadding() {
        assertArrayEquals(photo.pixels, turn(photo, 0).pixels)
    }

    @Test
    fun turnsClockwise() {
        val image = photo
        val turned = turn(image, 90)
        assertEquals(image.height, turned.width)
        assertEquals(image.width, turned.height)
        // The top-left pixel ends up top-right.
        for (c in 0 until 3) assertEquals(image.pixels[c], turned.pixels[(turned.width - 1) * 3 + c])
        assertArrayEquals(image.pixels, turn(turned, 270).pixels)
        assertArrayEquals(image.pixels, turn(turn(image, 180), 180).pixels)
        assertArrayEquals(turn(turn(image, 90), 90).pixels, turn(image, 180).pixels)
    }
}
