package org.edgemb.core

import java.io.ByteArrayInputStream
import java.nio.ByteBuffer
import java.nio.charset.CharacterCodingException
import java.util.Properties

/**
 * Reads a .tflite image classifier and its TFLite Model Metadata into a [ModelSpec],
 * or explains in a [ModelError] why the app cannot use it. Same rules, order and
 * messages as read_metadata in edge_mobilenet/tflite_metadata.py.
 */
object ModelReader {
    const val METADATA_BUFFER = "TFLITE_METADATA"
    const val PREPROCESSING_FILE = "preprocessing.properties"

    // TensorType in the TFLite schema, by value.
    private val TYPE_NAMES = listOf(
        "FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16", "COMPLEX64", "INT8",
        "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE", "VARIANT", "UINT32", "UINT16", "INT4", "BFLOAT16")

    // Field ids in the TFLite schema (schema.fbs) and the metadata schema (metadata_schema.fbs).
    private const val MODEL_SUBGRAPHS = 2
    private const val MODEL_BUFFERS = 4
    private const val MODEL_METADATA = 6
    private const val SUBGRAPH_TENSORS = 0
    private const val SUBGRAPH_INPUTS = 1
    private const val SUBGRAPH_OUTPUTS = 2
    private const val TENSOR_SHAPE = 0
    private const val TENSOR_TYPE = 1
    private const val TENSOR_QUANTIZATION = 4
    private const val QUANTIZATION_SCALE = 2
    private const val QUANTIZATION_ZERO_POINT = 3
    private const val BUFFER_DATA = 0
    private const val METADATA_NAME = 0
    private const val METADATA_BUFFER_INDEX = 1
    private const val MODEL_META_NAME = 0
    private const val MODEL_META_DESCRIPTION = 1
    private const val MODEL_META_VERSION = 2
    private const val MODEL_META_SUBGRAPHS = 3
    private const val MODEL_META_FILES = 6
    private const val SUBGRAPH_META_INPUTS = 2
    private const val SUBGRAPH_META_OUTPUTS = 3
    private const val TENSOR_META_PROCESS_UNITS = 4
    private const val TENSOR_META_FILES = 6
    private const val PROCESS_UNIT_OPTIONS_TYPE = 0
    private const val PROCESS_UNIT_OPTIONS = 1
    private const val NORMALIZATION_OPTIONS = 1 // ProcessUnitOptions union value
    private const val NORMALIZATION_MEAN = 0
    private const val NORMALIZATION_STD = 1
    private const val FILE_NAME = 0
    private const val FILE_TYPE = 2
    private const val TENSOR_AXIS_LABELS = 2 // AssociatedFileType value

    fun read(model: ByteArray): ModelSpec {
        try {
            val root = Table.root(model, "TFL3") ?: throw ModelError("not a TFLite model (no TFL3 file identifier)")
            return read(model, root)
        } catch (e: RuntimeException) { // IndexOutOfBoundsException from a damaged flatbuffer, ...
            throw ModelError("the TFLite model is damaged (${e.javaClass.simpleName})")
        }
    }

    private fun read(model: ByteArray, root: Table): ModelSpec {
        val entry = root.tables(MODEL_METADATA).firstOrNull { it.string(METADATA_NAME) == METADATA_BUFFER }
            ?: throw ModelError("the model has no TFLite metadata (labels, normalization); " +
                "export it with edgemb export, which adds them")
        val buffers = root.tables(MODEL_BUFFERS)
        val index = entry.uint(METADATA_BUFFER_INDEX)
        val metadataBytes = (if (index in buffers.indices) buffers[index].bytes(BUFFER_DATA) else null)
            ?: throw ModelError("the model's TFLITE_METADATA buffer is missing")
        val metadata = Table.root(metadataBytes, "M001")
            ?: throw ModelError("the model's TFLITE_METADATA is not a ModelMetadata flatbuffer")

        val graph = root.tables(MODEL_SUBGRAPHS).firstOrNull()
        val inputs = graph?.ints(SUBGRAPH_INPUTS) ?: IntArray(0)
        val outputs = graph?.ints(SUBGRAPH_OUTPUTS) ?: IntArray(0)
        if (graph == null || inputs.size != 1 || outputs.size != 1) {
            throw ModelError("the model has ${inputs.size} inputs and ${outputs.size} outputs; " +
                "an image classifier has one of each")
        }
        val tensors = graph.tables(SUBGRAPH_TENSORS)
        val input = tensorSpec(tensors[inputs[0]])
        val output = tensorSpec(tensors[outputs[0]])
        val size = checkInput(input)
        val classes = checkOutput(output)

        val subgraphs = metadata.tables(MODEL_META_SUBGRAPHS)
        val inputMeta = subgraphs.firstOrNull()?.tables(SUBGRAPH_META_INPUTS) ?: emptyList()
        val outputMeta = subgraphs.firstOrNull()?.tables(SUBGRAPH_META_OUTPUTS) ?: emptyList()
        if (inputMeta.size != 1 || outputMeta.size != 1) {
            throw ModelError("the metadata does not describe the model's input and output tensors")
        }

        val normalization = readNormalization(inputMeta[0])
        if (input.type == "FLOAT32" && normalization == null) {
            throw ModelError("the float32 input has no NormalizationOptions (mean, std) in its metadata")
        }

        val files = AttachedFiles.read(model)
        val labelsFile = outputMeta[0].tables(TENSOR_META_FILES)
            .firstOrNull { it.byte(FILE_TYPE) == TENSOR_AXIS_LABELS }
            ?: throw ModelError("the output has no labels file (TENSOR_AXIS_LABELS) in the metadata")
        val labelsName = labelsFile.string(FILE_NAME) ?: ""
        val labels = readLabels(labelsName, files)
        if (labels.size != classes) {
            throw ModelError("$labelsName has ${labels.size} labels but the output has $classes scores")
        }

        val modelFiles = metadata.tables(MODEL_META_FILES).map { it.string(FILE_NAME) }
        val preprocessing = if (PREPROCESSING_FILE in modelFiles) {
            readPreprocessing(attached(PREPROCESSING_FILE, files), size)
        } else {
            // a model from elsewhere: no resize margin, the center square scaled to the input
            Triple(size, size, Preprocess.ANTIALIASED)
        }
        return ModelSpec(
            name = metadata.string(MODEL_META_NAME) ?: "",
            description = metadata.string(MODEL_META_DESCRIPTION) ?: "",
            version = metadata.string(MODEL_META_VERSION) ?: "",
            input = input, output = output, normalization = normalization, labels = labels,
            resize = preprocessing.first, crop = preprocessing.second, interpolation = preprocessing.third)
    }

    private fun tensorSpec(tensor: Table): TensorSpec {
        val type = tensor.byte(TENSOR_TYPE)
        val quantization = tensor.table(TENSOR_QUANTIZATION)
        val scales = quantization?.floats(QUANTIZATION_SCALE) ?: FloatArray(0)
        val zeroPoints = quantization?.longs(QUANTIZATION_ZERO_POINT) ?: LongArray(0)
        return TensorSpec(
            shape = tensor.ints(TENSOR_SHAPE),
            type = if (type in TYPE_NAMES.indices) TYPE_NAMES[type] else type.toString(),
            scale = if (scales.isEmpty()) 0f else scales[0],
            zeroPoint = if (scales.isEmpty() || zeroPoints.isEmpty()) 0 else zeroPoints[0].toInt())
    }

    private fun shapeText(shape: IntArray) = shape.joinToString(", ", "[", "]")

    /** The side of the square RGB input. */
    private fun checkInput(input: TensorSpec): Int {
        val shape = input.shape
        if (shape.size != 4 || shape[0] != 1 || shape[3] != 3 || shape[1] < 1 || shape[2] < 1) {
            throw ModelError("the input tensor has shape ${shapeText(shape)}; an image classifier takes " +
                "[1, height, width, 3] RGB pixels")
        }
        if (shape[1] != shape[2]) {
            throw ModelError("the input is ${shape[1]}x${shape[2]}; only square inputs are supported")
        }
        if (input.type != "UINT8" && input.type != "INT8" && input.type != "FLOAT32") {
            throw ModelError("input type ${input.type} is not supported; " +
                "export with uint8 (quantized), int8 or float32 input")
        }
        if (input.type == "INT8" && !(input.scale > 0f)) {
            throw ModelError("the int8 input has no quantization scale; the app cannot map pixels to it")
        }
        return shape[1]
    }

    /** The number of classes. */
    private fun checkOutput(output: TensorSpec): Int {
        val shape = output.shape
        if (shape.size != 2 || shape[0] != 1 || shape[1] < 1) {
            throw ModelError("the output tensor has shape ${shapeText(shape)}; expected [1, number of classes]")
        }
        if (output.type != "UINT8" && output.type != "INT8" && output.type != "FLOAT32") {
            throw ModelError("output type ${output.type} is not supported; expected uint8, int8 or float32 scores")
        }
        return shape[1]
    }

    private fun readNormalization(inputMeta: Table): Normalization? {
        for (unit in inputMeta.tables(TENSOR_META_PROCESS_UNITS)) {
            if (unit.byte(PROCESS_UNIT_OPTIONS_TYPE) != NORMALIZATION_OPTIONS) continue
            val options = unit.table(PROCESS_UNIT_OPTIONS)
            val mean = options?.floats(NORMALIZATION_MEAN) ?: FloatArray(0)
            val std = options?.floats(NORMALIZATION_STD) ?: FloatArray(0)
            if ((mean.size != 1 && mean.size != 3) || std.size != mean.size || std.any { it == 0f }) {
                throw ModelError("the input's NormalizationOptions need 1 or 3 means and as many non-zero stds")
            }
            return Normalization(mean, std)
        }
        return null
    }

    private fun attached(name: String, files: Map<String, ByteArray>): ByteArray =
        files[name] ?: throw ModelError("$name is named in the metadata but not attached to the model")

    private fun readLabels(name: String, files: Map<String, ByteArray>): List<String> {
        val text = try {
            Charsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(attached(name, files))).toString()
        } catch (e: CharacterCodingException) {
            throw ModelError("$name is not UTF-8 text")
        }
        val lines = text.split("\n").toMutableList()
        if (lines.last() == "") lines.removeAt(lines.size - 1)
        val labels = lines.map { it.removeSuffix("\r") }
        if (labels.none { it.isNotBlank() }) throw ModelError("$name is empty")
        return labels
    }

    /** (resize, crop, interpolation) from preprocessing.properties, checked against the input size. */
    private fun readPreprocessing(data: ByteArray, size: Int): Triple<Int, Int, String> {
        val properties = Properties()
        properties.load(ByteArrayInputStream(data))
        val resize = properties.getProperty("resize")?.trim()?.toIntOrNull()
        val crop = properties.getProperty("crop")?.trim()?.toIntOrNull()
        if (resize == null || crop == null) {
            throw ModelError("$PREPROCESSING_FILE needs integer resize and crop values")
        }
        // A file without the key predates the choice: the two-tap bilinear was the only method.
        val interpolation = properties.getProperty("interpolation", Preprocess.BILINEAR).trim()
        if (interpolation !in Preprocess.INTERPOLATIONS) {
            throw ModelError("$PREPROCESSING_FILE asks for $interpolation interpolation; " +
                "only ${Preprocess.INTERPOLATIONS.joinToString(", ")} are implemented")
        }
        if (crop != size) throw ModelError("$PREPROCESSING_FILE says crop $crop but the input is ${size}x$size")
        if (resize < crop) throw ModelError("$PREPROCESSING_FILE says resize $resize, smaller than crop $crop")
        return Triple(resize, crop, interpolation)
    }
}
