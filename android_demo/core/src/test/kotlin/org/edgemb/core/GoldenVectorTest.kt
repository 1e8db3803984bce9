package org.edgemb.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The Kotlin core against what Python computed for the same real model and photos. */
class GoldenVectorTest {
    @Test
    fun readsTheSameMetadataAsPython() {
        for (golden in TestData.goldenModels) {
            val spec = ModelReader.read(golden.model)
            val python = golden.spec
            val what = golden.folder.name
            assertEquals(what, golden.name, spec.name)
            assertEquals(what, python.getProperty("input.shape"), spec.input.shape.joinToString(","))
            assertEquals(what, python.getProperty("input.type"), spec.input.type)
            assertEquals(what, python.getProperty("input.scale").toFloat(), spec.input.scale, 0f)
            assertEquals(what, python.getProperty("input.zero_point").toInt(), spec.input.zeroPoint)
            assertEquals(what, python.getProperty("output.shape"), spec.output.shape.joinToString(","))
            assertEquals(what, python.getProperty("output.type"), spec.output.type)
            assertEquals(what, python.getProperty("output.scale").toFloat(), spec.output.scale, 0f)
            assertEquals(what, python.getProperty("output.zero_point").toInt(), spec.output.zeroPoint)
            assertArrayEquals(what, floats(python.getProperty("normalization.mean")), spec.normalization?.mean, 0f)
            assertArrayEquals(what, floats(python.getProperty("normalization.std")), spec.normalization?.std, 0f)
            assertEquals(what, python.getProperty("preprocessing.resize").toInt(), spec.resize)
            assertEquals(what, python.getProperty("preprocessing.crop").toInt(), spec.crop)
            assertEquals(what, golden.labels, spec.labels)
        }
    }

    private fun floats(commaSeparated: String?) = commaSeparated?.split(",")?.map { it.toFloat() }?.toFloatArray()

    @Test
    fun makesTheSameInputTensorsByteForByte() {
        for (golden in TestData.goldenModels) {
            val spec = ModelReader.read(golden.model)
            val cases = golden.cases
            assertTrue("no golden cases in ${golden.folder}", cases.size >= 3)
            for (case in cases) {
                val tensor = Preprocess.inputTensor(spec, case.image)
                assertArrayEquals("${golden.folder.name}/${case.name}", case.input, tensor)
                assertEquals(spec.input.byteSize, case.input.size)
            }
        }
    }

    @Test
    fun findsTheSameTopClassesFromTheSameOutput() {
        for (golden in TestData.goldenModels) {
            val spec = ModelReader.read(golden.model)
            for (case in golden.cases) {
                val scores = Postprocess.scores(spec, case.output)
                assertEquals("${golden.folder.name}/${case.name}", case.top,
                    Postprocess.topK(scores, spec.labels, case.top.size))
            }
        }
    }
}
