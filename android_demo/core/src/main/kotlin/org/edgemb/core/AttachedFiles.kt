package org.edgemb.core

import java.io.ByteArrayInputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.zip.ZipInputStream

/** The files (labels.txt, ...) appended to a .tflite model as a zip, by name. */
internal object AttachedFiles {
    private const val END_SIGNATURE = 0x06054b50
    private const val DIRECTORY_SIGNATURE = 0x02014b50
    private const val LOCAL_SIGNATURE = 0x04034b50
    private const val END_RECORD_SIZE = 22

    fun read(model: ByteArray): Map<String, ByteArray> {
        val start = zipStart(model)
        if (start < 0) return emptyMap()
        val files = LinkedHashMap<String, ByteArray>()
        try {
            ZipInputStream(ByteArrayInputStream(model, start, model.size - start)).use { zip ->
                while (true) {
                    val entry = zip.nextEntry ?: break
                    files[entry.name] = zip.readBytes()
                }
            }
        } catch (e: IOException) {
            return emptyMap()
        }
        return files
    }

    /**
     * Where the zip's first file starts, or -1. The zip follows the model
     * flatbuffer, so it is found from its end record. Writers count offsets from
     * the start of the zip or of the whole file; the distance between where the
     * central directory is and where the end record says it is tells which.
     */
    private fun zipStart(data: ByteArray): Int {
        val buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN)
        val lowest = maxOf(0, data.size - END_RECORD_SIZE - 0xFFFF)
        var end = data.size - END_RECORD_SIZE
        while (end >= lowest && buf.getInt(end) != END_SIGNATURE) end--
        if (end < lowest) return -1
        val directory = end - buf.getInt(end + 12)
        if (directory < 0 || directory + 46 > end || buf.getInt(directory) != DIRECTORY_SIGNATURE) return -1
        val start = directory - buf.getInt(end + 16) + buf.getInt(directory + 42)
        return if (start in 0..(data.size - 4) && buf.getInt(start) == LOCAL_SIGNATURE) start else -1
    }
}
