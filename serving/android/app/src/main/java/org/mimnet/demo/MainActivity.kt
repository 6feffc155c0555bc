package org.mimnet.demo

import android.graphics.Bitmap
import android.graphics.ImageDecoder
import android.net.Uri
import android.os.Build
import android.os.Bundle
import android.provider.MediaStore
import android.widget.Button
import android.widget.EditText
import android.widget.ImageView
import android.widget.TextView
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import java.util.concurrent.Executors

/** Pick a photo, type a sentence, see the edit and where the model edited (the map overlay). */
class MainActivity : AppCompatActivity() {

    private val worker = Executors.newSingleThreadExecutor()
    private lateinit var editor: Editor
    private var photo: Bitmap? = null

    private lateinit var photoView: ImageView
    private lateinit var editedView: ImageView
    private lateinit var mapView: ImageView
    private lateinit var captionInput: EditText
    private lateinit var statusText: TextView

    private val pickPhoto = registerForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
        if (uri != null) {
            photo = loadBitmap(uri)
            photoView.setImageBitmap(photo)
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        photoView = findViewById(R.id.photoView)
        editedView = findViewById(R.id.editedView)
        mapView = findViewById(R.id.mapView)
        captionInput = findViewById(R.id.captionInput)
        statusText = findViewById(R.id.statusText)
        editor = Editor(this, MODEL_FILE)
        findViewById<Button>(R.id.pickButton).setOnClickListener { pickPhoto.launch("image/*") }
        findViewById<Button>(R.id.editButton).setOnClickListener { runEdit() }
    }

    private fun runEdit() {
        val current = photo ?: run { statusText.setText(R.string.pick_first); return }
        val caption = captionInput.text.toString()
        statusText.text = ""
        worker.execute {
            val started = System.nanoTime()
            try {
                val result = editor.edit(current, caption)
                val millis = (System.nanoTime() - started) / 1_000_000
                runOnUiThread {
                    editedView.setImageBitmap(result.edited)
                    mapView.setImageBitmap(result.mapOverlay)
                    statusText.text = listOf("Edited in $millis ms", result.reading).filter { it.isNotEmpty() }
                        .joinToString("\n")
                }
            } catch (error: Tokenizer.CaptionException) {
                runOnUiThread { statusText.text = error.message }
            }
        }
    }

    private fun loadBitmap(uri: Uri): Bitmap {
        val bitmap = if (Build.VERSION.SDK_INT >= 28) {
            ImageDecoder.decodeBitmap(ImageDecoder.createSource(contentResolver, uri)) { decoder, _, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE // readable pixels for getPixels
            }
        } else {
            @Suppress("DEPRECATION")
            MediaStore.Images.Media.getBitmap(contentResolver, uri)
        }
        return bitmap.copy(Bitmap.Config.ARGB_8888, false)
    }

    override fun onDestroy() {
        worker.shutdown()
        editor.close()
        super.onDestroy()
    }

    companion object {
        /**
         * The model copied into app/src/main/assets (with its .json and vocab.txt). The dynamic
         * variant (int8 weights, activations quantized on the fly, XNNPACK's int8 kernels) is the
         * one for phones: measured the fastest of the exports (1.5-3.8x fp32 on a busy 2-core x86 CPU,
         * ahead of full-integer int8), the smallest (0.27x fp32) and the closest to the trained
         * model (docs/exports.md); its export is refused unless it edits like the trained model.
         */
        const val MODEL_FILE = "mimnet_dynamic.tflite"
    }
}
