package org.mimnet.demo

import android.content.Context
import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint
import org.json.JSONObject
import org.tensorflow.lite.Interpreter
import java.io.Closeable
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel
import kotlin.math.floor
import kotlin.math.roundToInt

/**
 * Runs an exported MIM-Net TFLite model (python -m mimnet_tf.export.tflite) with the LiteRT Interpreter.
 *
 * The tensor contract is the one serving/tflite_edit.py runs and tests/serving/test_android.py
 * checks against the metadata JSON written beside each model: signature "serving_default",
 * inputs "image" float32 [1, S, S, 3] in [-1, 1] and "token_ids" int32 [1, L], outputs
 * "edited_image" float32 [1, S, S, 3] in [-1, 1] and "localisation_map" float32 [1, M, M, 1].
 *
 * @param modelFile the .tflite file in the app's assets; "<name>.json" and the vocabulary file the
 *     JSON names must sit beside it.
 */
class Editor(context: Context, modelFile: String) : Closeable {

    /** The fields of the metadata JSON the app needs. */
    class Metadata(json: JSONObject) {
        val imageSize: Int = json.getInt("image_size")
        val mapSize: Int = json.getInt("map_size")
        val maxWords: Int = json.getInt("max_words")
        val vocabFile: String = json.getString("vocab_file")
        val scale: Float = json.getJSONObject("normalisation").getDouble("scale").toFloat()
        val offset: Float = json.getJSONObject("normalisation").getDouble("offset").toFloat()
    }

    /** An edit at the photo's size: the edited image and the map's heat map blended over the photo. */
    /** The edit, its localisation map over the photo, and what the tokenizer corrected or did not know. */
    class Result(val edited: Bitmap, val mapOverlay: Bitmap, val reading: String)

    val metadata: Metadata
    val tokenizer: Tokenizer
    private val interpreter: Interpreter

    init {
        val json = context.assets.open(modelFile.substringBeforeLast('.') + ".json").bufferedReader().use { it.readText() }
        metadata = Metadata(JSONObject(json))
        val vocabulary = context.assets.open(metadata.vocabFile).bufferedReader().use { it.readLines() }
        tokenizer = Tokenizer(vocabulary, metadata.maxWords)
        interpreter = Interpreter(mapAsset(context, modelFile), Interpreter.Options().setNumThreads(2).setUseXNNPACK(true))
        val inputs = interpreter.getSignatureInputs(SIGNATURE_KEY).toSet()
        val outputs = interpreter.getSignatureOutputs(SIGNATURE_KEY).toSet()
        check(inputs == setOf(INPUT_IMAGE, INPUT_TOKEN_IDS) && outputs == setOf(OUTPUT_EDITED_IMAGE, OUTPUT_LOCALISATION_MAP)) {
            "$modelFile: signature $SIGNATURE_KEY has $inputs -> $outputs, not the MIM-Net edit contract"
        }
    }

    /** Edits [photo] to match [caption]; throws [Tokenizer.CaptionException] for an unusable caption. */
    fun edit(photo: Bitmap, caption: String): Result {
        val reading = tokenizer.encodeChecked(caption)
        val tokenIds = reading.ids
        val size = metadata.imageSize
        val image = imageBuffer(Bitmap.createScaledBitmap(photo, size, size, true))
        val edited = Array(1) { Array(size) { Array(size) { FloatArray(3) } } }
        val map = Array(1) { Array(metadata.mapSize) { Array(metadata.mapSize) { FloatArray(1) } } }
        interpreter.runSignature(
            mapOf(INPUT_IMAGE to image, INPUT_TOKEN_IDS to arrayOf(tokenIds)),
            mapOf(OUTPUT_EDITED_IMAGE to edited, OUTPUT_LOCALISATION_MAP to map),
            SIGNATURE_KEY,
        )
        val editedBitmap = Bitmap.createScaledBitmap(toBitmap(edited[0]), photo.width, photo.height, true)
        return Result(editedBitmap, overlay(photo, map[0]), reading.describe())
    }

    override fun close() = interpreter.close()

    /** RGB pixels p in [0, 255] -> p / scale + offset ([-1, 1]), NHWC float32. */
    private fun imageBuffer(bitmap: Bitmap): ByteBuffer {
        val size = metadata.imageSize
        val pixels = IntArray(size * size)
        bitmap.getPixels(pixels, 0, size, 0, 0, size, size)
        val buffer = ByteBuffer.allocateDirect(4 * 3 * size * size).order(ByteOrder.nativeOrder())
        for (pixel in pixels) {
            buffer.putFloat(Color.red(pixel) / metadata.scale + metadata.offset)
            buffer.putFloat(Color.green(pixel) / metadata.scale + metadata.offset)
            buffer.putFloat(Color.blue(pixel) / metadata.scale + metadata.offset)
        }
        buffer.rewind()
        return buffer
    }

    /** [-1, 1] -> round((x - offset) * scale) clipped to [0, 255]. */
    private fun toBitmap(image: Array<Array<FloatArray>>): Bitmap {
        val height = image.size
        val width = image[0].size
        val pixels = IntArray(width * height) { i ->
            val rgb = image[i / width][i % width]
            Color.rgb(toByte(rgb[0]), toByte(rgb[1]), toByte(rgb[2]))
        }
        return Bitmap.createBitmap(pixels, width, height, Bitmap.Config.ARGB_8888)
    }

    private fun toByte(value: Float): Int = ((value - metadata.offset) * metadata.scale).roundToInt().coerceIn(0, 255)

    /** The localisation map as a heat map (mimnet_tf.images.heat_map colours) blended over the photo. */
    private fun overlay(photo: Bitmap, map: Array<Array<FloatArray>>): Bitmap {
        val size = map.size
        val pixels = IntArray(size * size) { i -> heatColour(map[i / size][i % size][0]) }
        val heat = Bitmap.createScaledBitmap(
            Bitmap.createBitmap(pixels, size, size, Bitmap.Config.ARGB_8888), photo.width, photo.height, true)
        val result = photo.copy(Bitmap.Config.ARGB_8888, true)
        Canvas(result).drawBitmap(heat, 0f, 0f, Paint().apply { alpha = (OVERLAY_ALPHA * 255).roundToInt() })
        return result
    }

    companion object {
        const val SIGNATURE_KEY = "serving_default"
        const val INPUT_IMAGE = "image"
        const val INPUT_TOKEN_IDS = "token_ids"
        const val OUTPUT_EDITED_IMAGE = "edited_image"
        const val OUTPUT_LOCALISATION_MAP = "localisation_map"
        const val OVERLAY_ALPHA = 0.55f

        /** Black-blue-red-yellow-white, as mimnet_tf/images.py draws maps. */
        val HEAT_STOPS = arrayOf(
            intArrayOf(0, 0, 0),
            intArrayOf(40, 40, 200),
            intArrayOf(220, 40, 40),
            intArrayOf(250, 220, 40),
            intArrayOf(255, 255, 255),
        )

        fun heatColour(value: Float): Int {
            val position = value.coerceIn(0f, 1f) * (HEAT_STOPS.size - 1)
            val low = floor(position).toInt().coerceIn(0, HEAT_STOPS.size - 2)
            val frac = position - low
            val channel = { c: Int -> (HEAT_STOPS[low][c] * (1 - frac) + HEAT_STOPS[low + 1][c] * frac).roundToInt() }
            return Color.rgb(channel(0), channel(1), channel(2))
        }

        private fun mapAsset(context: Context, name: String): MappedByteBuffer {
            context.assets.openFd(name).use { descriptor ->
                FileInputStream(descriptor.fileDescriptor).use { stream ->
                    return stream.channel.map(FileChannel.MapMode.READ_ONLY, descriptor.startOffset, descriptor.declaredLength)
                }
            }
        }
    }
}
