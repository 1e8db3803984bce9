package org.edgemb.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** Models the app must refuse with a message it can show (real models, made by sample_models.py). */
class ModelReaderTest {
    private fun refusal(model: ByteArray): String = try {
        ModelReader.read(model)
        throw AssertionError("the model was accepted")
    } catch (e: ModelError) {
        e.message ?: ""
    }

    private fun refusal(name: String) = refusal(File(TestData.samples, "bad/$name.tflite").readBytes())

    @Test
    fun modelWithoutMetadata() {
        assertEquals("the model has no TFLite metadata (labels, normalization); " +
            "export it with edgemb export, which adds them", refusal("no_metadata"))
    }

    @Test
    fun labelsCountDifferentFromOutputSize() {
        assertEquals("labels.txt has 9 labels but the output has 10 scores", refusal("labels_mismatch"))
    }

    @Test
    fun emptyLabelsFile() {
        assertEquals("labels.txt is empty", refusal("empty_labels"))
    }

    @Test
    fun nonImageInputTensor() {
        assertEquals("the input tensor has shape [1, 64]; an image classifier takes [1, height, width, 3] RGB pixels",
            refusal("not_an_image"))
    }

    @Test
    fun int8InputIsAccepted() {
        val spec = ModelReader.read(File(TestData.samples, "fashion32.int8_input.tflite").readBytes())
        assertEquals("INT8", spec.input.type)
        assertEquals(-128, spec.input.zeroPoint)
    }

    @Test
    fun floatInputWithoutNormalization() {
        assertEquals("the float32 input has no NormalizationOptions (mean, std) in its metadata",
            refusal("float_without_normalization"))
    }

    @Test
    fun notAModelAtAll() {
        assertEquals("not a TFLite model (no TFL3 file identifier)", refusal("labels\n".toByteArray()))
    }

    @Test
    fun truncatedModelIsRefusedNotCrashed() {
        val model = File(TestData.samples, "fashion32.int8.tflite").readBytes()
        for (size in listOf(8, 64, model.size / 3, model.size / 2)) {
            assertTrue(refusal(model.copyOf(size)).isNotEmpty())
        }
    }

    @Test
    fun metadataWithoutPreprocessingFileFallsBackToAPlainCenterCrop() {
        val spec = ModelReader.read(File(TestData.samples, "fashion32.plain_metadata.tflite").readBytes())
        assertEquals(32, spec.crop)
        assertEquals(32, spec.resize)
        assertEquals(10, spec.labels.size)
    }
}
