package org.edgemb.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Color
import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import org.edgemb.core.CameraFrame
import org.edgemb.core.ModelError
import org.edgemb.core.ModelReader
import org.edgemb.core.ModelSpec
import java.io.FileNotFoundException
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/** Live camera preview, the model's top-3 classes, inference time, threads and delegate choice. */
class MainActivity : AppCompatActivity() {
    private lateinit var preview: PreviewView
    private lateinit var message: TextView
    private lateinit var results: TextView
    private lateinit var timing: TextView
    private lateinit var threads: Spinner
    private lateinit var accelerator: Spinner

    // Frames are analysed, and the classifier replaced, on this one thread only.
    private val analysis: ExecutorService = Executors.newSingleThreadExecutor()
    private var classifier: Classifier? = null
    private lateinit var model: ByteArray
    private lateinit var spec: ModelSpec
    private lateinit var modelInfo: String

    private val askForCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else showError(getString(R.string.no_camera))
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        message = findViewById(R.id.message)
        results = findViewById(R.id.results)
        timing = findViewById(R.id.timing)
        threads = findViewById(R.id.threads)
        accelerator = findViewById(R.id.accelerator)

        if (!loadModel()) return
        threads.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, listOf(1, 2, 3, 4))
        accelerator.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
            Accelerator.values().map { it.label })
        val rebuild = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>, view: View?, position: Int, id: Long) {
                rebuildClassifier()
            }

            override fun onNothingSelected(parent: AdapterView<*>) {}
        }
        threads.onItemSelectedListener = rebuild
        accelerator.onItemSelectedListener = rebuild

        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            askForCamera.launch(Manifest.permission.CAMERA)
        }
    }

    /** Reads assets/model.tflite and its metadata; on failure, says why on screen. */
    private fun loadModel(): Boolean {
        model = try {
            assets.open(MODEL_ASSET).use { it.readBytes() }
        } catch (e: FileNotFoundException) {
            showError(getString(R.string.no_model))
            return false
        }
        spec = try {
            ModelReader.read(model)
        } catch (e: ModelError) {
            showError(getString(R.string.unusable_model, e.message))
            return false
        }
        val kind = if (spec.input.type == "UINT8") "uint8" else "float32"
        modelInfo = "${spec.name}: $kind ${spec.crop}x${spec.crop} input, ${spec.labels.size} classes"
        showInfo(modelInfo)
        return true
    }

    private fun rebuildClassifier() {
        val threadCount = threads.selectedItem as Int
        val chosen = Accelerator.values()[accelerator.selectedItemPosition]
        analysis.execute {
            classifier?.close()
            classifier = try {
                Classifier(model, spec, threadCount, chosen).also { runOnUiThread { showInfo(modelInfo) } }
            } catch (e: Exception) { // the delegate cannot run here, or refuses this model
                runOnUiThread { showError(getString(R.string.accelerator_unavailable, chosen.label, e.message)) }
                null
            }
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            val provider = providerFuture.get()
            val cameraPreview = Preview.Builder().build()
            cameraPreview.setSurfaceProvider(preview.surfaceProvider)
            val frames = ImageAnalysis.Builder()
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            frames.setAnalyzer(analysis) { frame -> classify(frame) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, cameraPreview, frames)
        }, ContextCompat.getMainExecutor(this))
    }

    private fun classify(frame: ImageProxy) {
        frame.use {
            val current = classifier ?: return@use
            val plane = frame.planes[0]
            val rgba = ByteArray(plane.buffer.remaining())
            plane.buffer.get(rgba)
            val image = CameraFrame.uprightRgb(rgba, frame.width, frame.height, plane.rowStride,
                frame.imageInfo.rotationDegrees)
            val prediction = current.classify(image)
            val setting = "${current.accelerator.label}, ${current.threads} threads"
            runOnUiThread { show(prediction, setting) }
        }
    }

    private fun show(prediction: Prediction, setting: String) {
        results.text = prediction.top.joinToString("\n") {
            String.format(Locale.US, "%5.1f%%  %s", 100 * it.score, it.label)
        }
        timing.text = String.format(Locale.US, "inference %.1f ms, preprocessing %.1f ms (%s)",
            prediction.inferenceMs, prediction.preprocessingMs, setting)
    }

    private fun showInfo(text: String) {
        message.setTextColor(Color.GRAY)
        message.text = text
    }

    private fun showError(text: String) {
        message.setTextColor(Color.RED)
        message.text = text
    }

    override fun onDestroy() {
        analysis.execute { classifier?.close() }
        analysis.shutdown()
        super.onDestroy()
    }

    companion object {
        const val MODEL_ASSET = "model.tflite"
    }
}
