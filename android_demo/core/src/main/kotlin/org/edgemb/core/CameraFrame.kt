package org.edgemb.core

/** Camera frames in RGBA_8888 (CameraX ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888) as upright RGB images. */
object CameraFrame {
    /**
     * Drops alpha and row padding and turns the frame `rotationDegrees` clockwise
     * (0, 90, 180 or 270, as ImageInfo.getRotationDegrees() reports) so it is upright.
     */
    fun uprightRgb(rgba: ByteArray, width: Int, height: Int, rowStride: Int, rotationDegrees: Int): RgbImage {
        require(rotationDegrees in intArrayOf(0, 90, 180, 270)) { "rotation $rotationDegrees" }
        require(rowStride >= width * 4 && rgba.size >= rowStride * (height - 1) + width * 4) {
            "a ${width}x$height RGBA frame with row stride $rowStride does not fit ${rgba.size} bytes"
        }
        val sideways = rotationDegrees == 90 || rotationDegrees == 270
        val outWidth = if (sideways) height else width
        val outHeight = if (sideways) width else height
        val out = ByteArray(width * height * 3)
        for (y in 0 until height) {
            for (x in 0 until width) {
                val outX: Int
                val outY: Int
                when (rotationDegrees) {
                    90 -> { outX = height - 1 - y; outY = x }
                    180 -> { outX = width - 1 - x; outY = height - 1 - y }
                    270 -> { outX = y; outY = width - 1 - x }
                    else -> { outX = x; outY = y }
                }
                val from = y * rowStride + x * 4
                val to = (outY * outWidth + outX) * 3
                out[to] = rgba[from]
                out[to + 1] = rgba[from + 1]
                out[to + 2] = rgba[from + 2]
            }
        }
        return RgbImage(outWidth, outHeight, out)
    }
}
