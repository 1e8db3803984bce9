package org.edgemb.core

import java.io.File
import java.util.Properties

/**
 * Files made by the Python side (make android-test writes them):
 * -Dedgemb.golden: one folder per model, from android_demo/tools/golden_vectors.py;
 * -Dedgemb.samples: the models from android_demo/tools/sample_models.py, broken ones under bad/.
 */
object TestData {
    private fun folder(property: String): File {
        val path = System.getProperty(property)
            ?: throw AssertionError("-D$property is not set: run the tests with make android-test")
        val folder = File(path)
        if (!folder.isDirectory) throw AssertionError("$folder does not exist: run make android-test")
        return folder
    }

    val samples: File get() = folder("edgemb.samples")

    /** The golden folders, one per model; at least one. */
    val goldenModels: List<GoldenModel>
        get() {
            val folders = folder("edgemb.golden").listFiles { f -> f.isDirectory }!!.sortedBy { it.name }
            if (folders.isEmpty()) throw AssertionError("no golden vectors: run make android-test")
            return folders.map { GoldenModel(it) }
        }
}

/** A photo or camera frame as delivered ([frame], turned [rotation] degrees clockwise to be upright). */
class GoldenCase(val name: String, val frame: RgbImage, val rotation: Int, val input: ByteArray,
                 val output: ByteArray, val top: List<Classification>, val pillow: ByteArray) {
    /** The frame as CameraX hands it over: RGBA_8888 with 8 spare bytes after each row. */
    val rgba: ByteArray
        get() {
            val stride = rowStride
            val out = ByteArray(stride * frame.height)
            for (y in 0 until frame.height) for (x in 0 until frame.width) {
                for (c in 0 until 3) out[y * stride + x * 4 + c] = frame.pixels[(y * frame.width + x) * 3 + c]
                out[y * stride + x * 4 + 3] = 0xFF.toByte()
            }
            return out
        }
    val rowStride: Int get() = frame.width * 4 + 8

    /** The upright image, through the app's own camera-frame code. */
    val image: RgbImage get() = CameraFrame.uprightRgb(rgba, frame.width, frame.height, rowStride, rotation)
}

class GoldenModel(val folder: File) {
    val model: ByteArray get() = File(folder, "model.tflite").readBytes()

    /** What Python's read_metadata found in the model: its name, tensors and preprocessing. */
    val name: String get() = File(folder, "name.txt").readText(Charsets.UTF_8)

    val spec: Properties
        get() = Properties().apply { File(folder, "spec.properties").inputStream().use { load(it) } }

    val labels: List<String> get() = File(folder, "labels.txt").readText(Charsets.UTF_8).split("\n").dropLast(1)

    val cases: List<GoldenCase>
        get() = File(folder, "cases.tsv").readLines().filter { it.isNotEmpty() }.map { line ->
            val (name, width, height, rotation) = line.split("\t")
            val top = File(folder, "$name.top.tsv").readLines().filter { it.isNotEmpty() }.map {
                val (index, score, label) = it.split("\t")
                Classification(index.toInt(), label, score.toFloat())
            }
            GoldenCase(name, RgbImage(width.toInt(), height.toInt(), File(folder, "$name.rgb").readBytes()),
                rotation.toInt(), File(folder, "$name.input").readBytes(), File(folder, "$name.output").readBytes(),
                top, File(folder, "$name.pillow").readBytes())
        }
}
