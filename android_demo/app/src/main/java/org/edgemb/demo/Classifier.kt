package org.edgemb.demo

import android.os.Build
import android.os.SystemClock
import org.edgemb.core.Classification
import org.edgemb.core.ModelSpec
import org.edgemb.core.Postprocess
import org.edgemb.core.Preprocess
import org.edgemb.core.RgbImage
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder

enum class Accelerator(val label: String) {
    CPU("CPU (XNNPACK)"),
    GPU("GPU"),
    NNAPI("NNAPI")
}

class Prediction(val top: List<Classification>, val inferenceMs: Double, val preprocessingMs: Double)

/**
 * LiteRT's Interpreter for a model whose [ModelSpec] was read from its own metadata.
 * `model` is a direct (memory-mapped) buffer; the Interpreter reads it in place.
 * The constructor throws whatever LiteRT throws, Errors included (a missing native
 * library is an UnsatisfiedLinkError, missing GPU classes a NoClassDefFoundError):
 * callers catch Throwable and show the message.
 */
class Classifier(
    model: ByteBuffer,
    private val spec: ModelSpec,
    val threads: Int,
    val accelerator: Accelerator
) : Closeable {
    private val delegate: Delegate? = when (accelerator) {
        Accelerator.CPU -> null
        Accelerator.GPU -> {
            val compatibility = CompatibilityList()
            try {
                if (!compatibility.isDelegateSupportedOnThisDevice) {
                    throw UnsupportedOperationException("this GPU is not supported by LiteRT")
                }
                GpuDelegate(compatibility.bestOptionsForThisDevice)
            } finally {
                compatibility.close()
            }
        }
        Accelerator.NNAPI -> {
            if (Build.VERSION.SDK_INT < Build.VERSION_CODES.O_MR1) {
                throw UnsupportedOperationException("NNAPI needs Android 8.1")
            }
            NnApiDelegate()
        }
    }

    // Direct buffers in native byte order, as the Interpreter wants them. Every Android ABI is
    // little-endian, the order of the core module's float input bytes.
    private val input = ByteBuffer.allocateDirect(spec.input.byteSize).order(ByteOrder.nativeOrder())
    private val output = ByteBuffer.allocateDirect(spec.output.byteSize).order(ByteOrder.nativeOrder())
    private val outputBytes = ByteArray(spec.output.byteSize)
    private val interpreter: Interpreter

    init {
        interpreter = try {
            val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(accelerator == Accelerator.CPU)
            delegate?.let { options.addDelegate(it) }
            Interpreter(model, options)
        } catch (e: Throwable) {
            delegate?.close()
            throw e
        }
    }

    /** At most `maxResults` classes scoring at least `threshold`, best first. Throws what LiteRT throws. */
    fun classify(image: RgbImage, maxResults: Int, threshold: Float): Prediction {
        val start = SystemClock.elapsedRealtimeNanos()
        input.rewind()
        input.put(Preprocess.inputTensor(spec, image))
        input.rewind()
        output.rewind()
        val preprocessed = SystemClock.elapsedRealtimeNanos()
        interpreter.run(input, output)
        val done = SystemClock.elapsedRealtimeNanos()
        output.rewind()
        output.get(outputBytes)
        val top = Postprocess.results(Postprocess.scores(spec, outputBytes), spec.labels, maxResults, threshold)
        return Prediction(top, (done - preprocessed) / 1e6, (preprocessed - start) / 1e6)
    }

    override fun close() {
        interpreter.close()
        delegate?.close()
    }
}
