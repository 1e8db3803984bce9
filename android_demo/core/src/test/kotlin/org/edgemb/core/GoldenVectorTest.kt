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
            assertEquals(what, python.getProperty("preprocessing.interpolation"), spec.interpolation)
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

    /** An oracle that is not edgemb's code on either side: Pillow's antialiased bilinear resize. */
    @Test
    fun staysWithinAGreyLevelOfPillow() {
        for (golden in TestData.goldenModels) {
            val spec = ModelReader.read(golden.model)
            if (spec.interpolation != Preprocess.ANTIALIASED) continue
            for (case in golden.cases) {
                val ours = Preprocess.resizeCenterCrop(case.image, spec.resize, spec.crop, spec.interpolation).pixels
                var worst = 0
                var sum = 0L
                for (i in ours.indices) {
                    val difference = Math.abs((ours[i].toInt() and 0xFF) - (case.pillow[i].toInt() and 0xFF))
                    worst = maxOf(worst, difference)
                    sum += difference
                }
                val what = "${golden.folder.name}/${case.name}"
                assertTrue("$what: $worst levels from Pillow", worst <= 1)
                assertTrue("$what: ${sum.toDouble() / ours.size} levels from Pillow on average", sum < ours.size / 4)
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
