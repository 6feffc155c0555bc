package org.mimnet.demo

/**
 * The project's one tokenizer spec (mimnet_tf/data/text.py), for captions typed on the phone.
 *
 * ASCII lower-case; every run of characters other than a-z and 0-9 (punctuation, white space,
 * non-ASCII) separates words and is dropped; the first [maxWords] words are kept; ids come from
 * the vocabulary file (line number = id; line 0 is <pad>, line 1 is <unk>); a word not in the
 * vocabulary is read as the nearest vocabulary word when it is a likely typo ([Correction]),
 * otherwise as <unk> (id 1); the sequence is right-padded with <pad> (id 0). What was corrected
 * and what stayed unknown is reported to the user ([Encoded.describe]).
 *
 * tests/serving/test_android.py reads the constants below and checks them against text.py.
 */
class Tokenizer(vocabulary: List<String>, val maxWords: Int) {

    private val ids: Map<String, Int> = vocabulary.withIndex().associate { (id, word) -> word to id }
    private val words: List<String> = vocabulary
    private val correction = Correction(vocabulary)

    init {
        require(vocabulary.size >= 2 && vocabulary[PAD_ID] == PAD && vocabulary[UNK_ID] == UNK) {
            "A vocabulary starts with $PAD, $UNK"
        }
        require(maxWords > 0) { "maxWords must be > 0" }
    }

    /** The words of a caption by the spec. */
    fun words(caption: String): List<String> =
        SEPARATOR.split(lowerAscii(caption)).filter { it.isNotEmpty() }

    /** Token ids (length [maxWords]), the corrected words and the unknown words among the kept words. */
    fun encode(caption: String): Encoded {
        val kept = words(caption).take(maxWords)
        val tokenIds = IntArray(maxWords) { PAD_ID }
        val corrections = mutableListOf<Pair<String, String>>()
        val unknown = mutableListOf<String>()
        kept.forEachIndexed { i, word ->
            val known = ids[word]
            if (known != null) {
                tokenIds[i] = known
            } else {
                val corrected = correction.correct(word)
                if (corrected >= 0) {
                    tokenIds[i] = corrected
                    corrections.add(word to words[corrected])
                } else {
                    tokenIds[i] = UNK_ID
                    unknown.add(word)
                }
            }
        }
        return Encoded(tokenIds, corrections, unknown)
    }

    /** Like [encode], but an empty or all-unknown caption is an error naming the problem. */
    fun encodeChecked(caption: String): Encoded {
        val encoded = encode(caption)
        if (encoded.ids.none { it != PAD_ID }) {
            throw CaptionException("The caption \"$caption\" is empty: it has no word made of letters or digits.")
        }
        if (encoded.ids.none { it > UNK_ID }) {
            throw CaptionException(
                "The caption \"$caption\" has only words the model does not know: " +
                    encoded.unknown.joinToString(", ") + "."
            )
        }
        return encoded
    }

    class Encoded(val ids: IntArray, val corrections: List<Pair<String, String>>, val unknown: List<String>) {
        /** One line for the user, as text.py's Reading.describe ("" when every word was known). */
        fun describe(): String = listOfNotNull(
            corrections.takeIf { it.isNotEmpty() }?.joinToString(", ", prefix = "read ") { (typed, word) -> "'$typed' as '$word'" },
            unknown.takeIf { it.isNotEmpty() }?.joinToString(", ", prefix = "unknown words (ignored): "),
        ).joinToString("; ")
    }

    class CaptionException(message: String) : IllegalArgumentException(message)

    companion object {
        const val PAD = "<pad>"
        const val UNK = "<unk>"
        const val PAD_ID = 0
        const val UNK_ID = 1
        const val SEPARATOR_PATTERN = "[^a-z0-9]+"
        private val SEPARATOR = Regex(SEPARATOR_PATTERN)

        /**
         * Lower-cases A-Z only, like Python's bytes.lower() and tf.strings.lower: String.lowercase()
         * would also map non-ASCII letters (İ -> i̇), which the spec treats as separators.
         */
        fun lowerAscii(text: String): String = buildString(text.length) {
            for (c in text) append(if (c in 'A'..'Z') c + ('a' - 'A') else c)
        }
    }
}
