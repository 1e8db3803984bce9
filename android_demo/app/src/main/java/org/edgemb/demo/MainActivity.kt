package org.edgemb.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Color
import android.media.ExifInterface
import android.net.Uri
import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
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
import org.edgemb.core.RgbImage
import java.io.FileInputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/** A model ready to run: its bytes, mapped from a file, and what its metadata says. */
class LoadedModel(val buffer: ByteBuffer, val spec: ModelSpec, val source: String) {
    val info: String
        get() = "${spec.name} ($source): ${spec.input.type.lowercase(Locale.US)} ${spec.crop}x${spec.crop} input, " +
            "${spec.labels.size} classes"
}

/**
 * Live camera preview (or a photo from the gallery), the model's best classes above a score
 * threshold, inference time, threads and delegate choice; the model comes from the app's
 * assets or from a .tflite picked on the phone.
 */
class MainActivity : AppCompatActivity() {
    private lateinit var preview: PreviewView
    private lateinit var photo: ImageView
    private lateinit var message: TextView
    private lateinit var results: TextView
    private lateinit var timing: TextView
    private lateinit var threads: Spinner
    private lateinit var accelerator: Spinner
    private lateinit var maxResults: Spinner
    private lateinit var threshold: Spinner

    // Frames and photos are classified, and the classifier replaced or closed, on this one thread only.
    private val analysis: ExecutorService = Executors.newSingleThreadExecutor()
    private var classifier: Classifier? = null
    @Volatile private var model: LoadedModel? = null
    @Volatile private var showingPhoto = false
    @Volatile private var resultCount = 3
    @Volatile private var minimumScore = 0f

    private val askForCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else showError(getString(R.string.no_camera_permission))
    }
    private val pickPhoto = registerForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
        if (uri != null) classifyPhoto(uri)
    }
    private val pickModel = registerForActivityResult(ActivityResultContracts.OpenDocument()) { uri: Uri? ->
        if (uri != null) loadModelFrom(uri)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        photo = findViewById(R.id.photo)
        message = findViewById(R.id.message)
        results = findViewById(R.id.results)
        timing = findViewById(R.id.timing)
        threads = findViewById(R.id.threads)
        accelerator = findViewById(R.id.accelerator)
        maxResults = findViewById(R.id.max_results)
        threshold = findViewById(R.id.threshold)

        threads.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, listOf(1, 2, 3, 4))
        accelerator.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
            Accelerator.values().map { it.label })
        maxResults.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, RESULT_COUNTS)
        maxResults.setSelection(RESULT_COUNTS.indexOf(3))
        threshold.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item,
            THRESHOLDS.map { "${it}%" })
        val rebuild = onSelected { rebuildClassifier() }
        threads.onItemSelectedListener = rebuild
        accelerator.onItemSelectedListener = rebuild
        val filter = onSelected {
            resultCount = maxResults.selectedItem as Int
            minimumScore = THRESHOLDS[threshold.selectedItemPosition] / 100f
        }
        maxResults.onItemSelectedListener = filter
        threshold.onItemSelectedListener = filter
        findViewById<Button>(R.id.pick_photo).setOnClickListener { pickPhoto.launch("image/*") }
        findViewById<Button>(R.id.pick_model).setOnClickListener {
            pickModel.launch(arrayOf("application/octet-stream", "*/*"))
        }
        findViewById<Button>(R.id.live).setOnClickListener { showLive() }

        model = loadBundledModel()
        model?.let { showInfo(it.info) }

        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            askForCamera.launch(Manifest.permission.CAMERA)
        }
    }

    private fun onSelected(action: () -> Unit) = object : AdapterView.OnItemSelectedListener {
        override fun onItemSelected(parent: AdapterView<*>, view: View?, position: Int, id: Long) = action()
        override fun onNothingSelected(parent: AdapterView<*>) {}
    }

    /** assets/model.tflite, memory-mapped (the asset is stored uncompressed); null, with a message, if unusable. */
    private fun loadBundledModel(): LoadedModel? {
        val buffer = try {
            assets.openFd(MODEL_ASSET).use { fd ->
                FileInputStream(fd.fileDescriptor).use {
                    it.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        } catch (e: IOException) { // FileNotFoundException: no model was put in
            showError(getString(R.string.no_model))
            return null
        }
        return readModel(buffer, MODEL_ASSET)
    }

    /** A .tflite picked on the phone, memory-mapped; refused with the core's message if unusable. */
    private fun loadModelFrom(uri: Uri) {
        val name = uri.lastPathSegment ?: uri.toString()
        val buffer = try {
            val descriptor = contentResolver.openFileDescriptor(uri, "r") ?: throw IOException("no file")
            descriptor.use { pfd ->
                FileInputStream(pfd.fileDescriptor).use { it.channel.map(FileChannel.MapMode.READ_ONLY, 0, it.channel.size()) }
            }
        } catch (e: Exception) { // IOException, SecurityException: a file the provider cannot hand over as a file
            showError(getString(R.string.model_unreadable, name, e.message))
            return
        }
        val loaded = readModel(buffer, name) ?: return
        model = loaded
        showInfo(loaded.info)
        rebuildClassifier()
    }

    private fun readModel(buffer: ByteBuffer, source: String): LoadedModel? {
        val bytes = ByteArray(buffer.remaining()) // a transient copy for the metadata reader; LiteRT runs from the mapping
        buffer.duplicate().get(bytes)
        return try {
            LoadedModel(buffer, ModelReader.read(bytes), source)
        } catch (e: ModelError) {
            showError(getString(R.string.unusable_model, source, e.message))
            null
        }
    }

    private fun rebuildClassifier() {
        val current = model ?: return
        val threadCount = threads.selectedItem as Int
        val chosen = Accelerator.values()[accelerator.selectedItemPosition]
        analysis.execute {
            closeClassifier()
            classifier = try {
                Classifier(current.buffer, current.spec, threadCount, chosen).also { runOnUiThread { showInfo(current.info) } }
            } catch (e: Throwable) { // a delegate that cannot run here or refuses the model; native code missing
                runOnUiThread { showError(getString(R.string.accelerator_unavailable, chosen.label, describe(e))) }
                null
            }
        }
    }

    /** On the analysis thread only. */
    private fun closeClassifier() {
        val old = classifier
        classifier = null
        try {
            old?.close()
        } catch (e: Throwable) {
            runOnUiThread { showError(describe(e)) }
        }
    }

    /** Runs on the analysis thread: on failure the classifier is closed and dropped, never used again. */
    private fun classifyOnAnalysisThread(image: RgbImage): Prediction? {
        val current = classifier ?: return null
        return try {
            current.classify(image, resultCount, minimumScore)
        } catch (e: Throwable) { // a delegate failing at run time
            closeClassifier()
            runOnUiThread { showError(getString(R.string.inference_failed, current.accelerator.label, describe(e))) }
            null
        }
    }

    private fun startCamera() {
        val providerFuture = ProcessCameraProvider.getInstance(this)
        providerFuture.addListener({
            try {
                val provider = providerFuture.get()
                val selector = when {
                    provider.hasCamera(CameraSelector.DEFAULT_BACK_CAMERA) -> CameraSelector.DEFAULT_BACK_CAMERA
                    provider.hasCamera(CameraSelector.DEFAULT_FRONT_CAMERA) -> CameraSelector.DEFAULT_FRONT_CAMERA
                    else -> {
                        showError(getString(R.string.no_camera_found))
                        return@addListener
                    }
                }
                val cameraPreview = Preview.Builder().build()
                cameraPreview.setSurfaceProvider(preview.surfaceProvider)
                val frames = ImageAnalysis.Builder()
                    .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                    .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                    .build()
                frames.setAnalyzer(analysis) { frame -> classify(frame) }
                provider.unbindAll()
                provider.bindToLifecycle(this, selector, cameraPreview, frames)
            } catch (e: Exception) { // no camera service, camera in use, ...
                showError(getString(R.string.camera_failed, describe(e)))
            }
        }, ContextCompat.getMainExecutor(this))
    }

    private fun classify(frame: ImageProxy) {
        frame.use {
            if (showingPhoto || classifier == null) return@use
            val plane = frame.planes[0]
            val rgba = ByteArray(plane.buffer.remaining())
            plane.buffer.get(rgba)
            val image = CameraFrame.uprightRgb(rgba, frame.width, frame.height, plane.rowStride,
                frame.imageInfo.rotationDegrees)
            val current = classifier ?: return@use
            val prediction = classifyOnAnalysisThread(image) ?: return@use
            val setting = "${current.accelerator.label}, ${current.threads} threads"
            runOnUiThread { if (!showingPhoto) show(prediction, setting) }
        }
    }

    /** A gallery photo, upright per its EXIF orientation, through the same core preprocessing as camera frames. */
    private fun classifyPhoto(uri: Uri) {
        val bitmap = try {
            readBitmap(uri)
        } catch (e: Exception) {
            showError(getString(R.string.photo_unreadable, describe(e)))
            return
        }
        showingPhoto = true
        photo.setImageBitmap(bitmap.first)
        photo.visibility = View.VISIBLE
        analysis.execute {
            val argb = bitmap.first
            val rgba = ByteBuffer.allocate(argb.rowBytes * argb.height)
            argb.copyPixelsToBuffer(rgba) // ARGB_8888 is stored as R, G, B, A bytes
            val image = CameraFrame.uprightRgb(rgba.array(), argb.width, argb.height, argb.rowBytes, bitmap.second)
            val current = classifier
            val prediction = classifyOnAnalysisThread(image)
            if (current != null && prediction != null) {
                runOnUiThread { show(prediction, "photo, ${current.accelerator.label}, ${current.threads} threads") }
            }
        }
    }

    /** The photo as ARGB_8888 and the clockwise turn its EXIF orientation asks for (mirrored ones: none). */
    private fun readBitmap(uri: Uri): Pair<Bitmap, Int> {
        val orientation = contentResolver.openInputStream(uri)?.use {
            ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        } ?: throw IOException("the photo cannot be opened")
        val options = BitmapFactory.Options()
        options.inJustDecodeBounds = true
        contentResolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, options) }
        if (options.outWidth.toLong() * options.outHeight > MAX_PHOTO_PIXELS) {
            // Decoded whole (as edgemb preprocess reads it) it would not fit the app's memory.
            throw IOException(getString(R.string.photo_too_large, options.outWidth, options.outHeight))
        }
        options.inJustDecodeBounds = false
        options.inPreferredConfig = Bitmap.Config.ARGB_8888
        val bitmap = contentResolver.openInputStream(uri)?.use { BitmapFactory.decodeStream(it, null, options) }
            ?: throw IOException("not an image Android can decode")
        val rotation = when (orientation) {
            ExifInterface.ORIENTATION_ROTATE_90 -> 90
            ExifInterface.ORIENTATION_ROTATE_180 -> 180
            ExifInterface.ORIENTATION_ROTATE_270 -> 270
            else -> 0
        }
        return Pair(bitmap, rotation)
    }

    private fun showLive() {
        showingPhoto = false
        photo.visibility = View.GONE
        results.text = ""
    }

    private fun show(prediction: Prediction, setting: String) {
        results.text = if (prediction.top.isEmpty()) getString(R.string.nothing_above_threshold) else
            prediction.top.joinToString("\n") { String.format(Locale.US, "%5.1f%%  %s", 100 * it.score, it.label) }
        timing.text = String.format(Locale.US, "inference %.1f ms, preprocessing %.1f ms (%s)",
            prediction.inferenceMs, prediction.preprocessingMs, setting)
    }

    private fun describe(e: Throwable) = e.message ?: e.javaClass.simpleName

    private fun showInfo(text: String) {
        message.setTextColor(Color.GRAY)
        message.text = text
    }

    private fun showError(text: String) {
        message.setTextColor(Color.RED)
        message.text = text
    }

    override fun onDestroy() {
        analysis.execute { closeClassifier() }
        analysis.shutdown()
        super.onDestroy()
    }

    companion object {
        const val MODEL_ASSET = "model.tflite"
        val RESULT_COUNTS = listOf(1, 3, 5, 10)
        val THRESHOLDS = listOf(0, 5, 10, 25, 50) // percent
        const val MAX_PHOTO_PIXELS = 24_000_000L
    }
}
