package org.edgemb.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * One table of a flatbuffer, read by field id: the position of the field in its
 * .fbs schema, counting from 0, where a union takes two ids (its type, then its
 * value). Just enough of the format to read a .tflite model and its metadata.
 * A damaged buffer makes these methods throw IndexOutOfBoundsException.
 */
internal class Table(private val buf: ByteBuffer, private val position: Int) {
    private val vtable = position - buf.getInt(position)
    private val vtableSize = buf.getShort(vtable).toInt() and 0xFFFF

    private fun fieldOffset(field: Int): Int {
        val entry = 4 + 2 * field
        return if (entry < vtableSize) buf.getShort(vtable + entry).toInt() and 0xFFFF else 0
    }

    /** Where the object that a reference field points to starts, or -1 when the field is absent. */
    private fun target(field: Int): Int {
        val offset = fieldOffset(field)
        if (offset == 0) return -1
        val at = position + offset
        return at + buf.getInt(at)
    }

    fun byte(field: Int, default: Int = 0): Int {
        val offset = fieldOffset(field)
        return if (offset == 0) default else buf.get(position + offset).toInt()
    }

    fun uint(field: Int, default: Int = 0): Int {
        val offset = fieldOffset(field)
        return if (offset == 0) default else buf.getInt(position + offset)
    }

    fun table(field: Int): Table? {
        val at = target(field)
        return if (at < 0) null else Table(buf, at)
    }

    fun string(field: Int): String? {
        val at = target(field)
        return if (at < 0) null else String(bytesAt(at + 4, buf.getInt(at)), Charsets.UTF_8)
    }

    fun bytes(field: Int): ByteArray? {
        val at = target(field)
        return if (at < 0) null else bytesAt(at + 4, buf.getInt(at))
    }

    fun tables(field: Int): List<Table> {
        val at = target(field)
        if (at < 0) return emptyList()
        return (0 until length(at)).map { i ->
            val element = at + 4 + 4 * i
            Table(buf, element + buf.getInt(element))
        }
    }

    fun ints(field: Int): IntArray {
        val at = target(field)
        return if (at < 0) IntArray(0) else IntArray(length(at)) { buf.getInt(at + 4 + 4 * it) }
    }

    fun longs(field: Int): LongArray {
        val at = target(field)
        return if (at < 0) LongArray(0) else LongArray(length(at)) { buf.getLong(at + 4 + 8 * it) }
    }

    fun floats(field: Int): FloatArray {
        val at = target(field)
        return if (at < 0) FloatArray(0) else FloatArray(length(at)) { buf.getFloat(at + 4 + 4 * it) }
    }

    private fun length(vectorAt: Int): Int {
        val length = buf.getInt(vectorAt)
        if (length < 0 || length > buf.limit()) throw IndexOutOfBoundsException("vector length $length")
        return length
    }

    private fun bytesAt(start: Int, length: Int): ByteArray {
        if (length < 0 || start + length > buf.limit()) throw IndexOutOfBoundsException("$length bytes at $start")
        val out = ByteArray(length)
        for (i in 0 until length) out[i] = buf.get(start + i)
        return out
    }

    companion object {
        /** The root table of `data`, or null when its 4-letter file identifier is not `identifier`. */
        fun root(data: ByteArray, identifier: String): Table? {
            if (data.size < 8 || String(data, 4, 4, Charsets.ISO_8859_1) != identifier) return null
            val buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN)
            return Table(buf, buf.getInt(0))
        }
    }
}
