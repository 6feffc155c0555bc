package org.mimnet.demo;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;

/**
 * The typo correction of the project's tokenizer spec (mimnet_tf/data/text.py), for the phone.
 *
 * An unknown word of at least {@link #MIN_LENGTH} characters is read as the nearest vocabulary
 * word of at least {@link #MIN_LENGTH} characters within {@link #maxDistance} edits
 * (insertions, deletions, substitutions and swaps of two adjacent letters, each letter edited at
 * most once: optimal string alignment); ties go to the lowest id. Plain Java (no
 * Android classes), so tests/serving/test_android.py compiles it with javac and checks it against
 * the Python and TensorFlow implementations on a fuzzed word list ({@link #main}).
 */
public final class Correction {
    public static final int MIN_LENGTH = 3;
    public static final int TWO_EDITS_LENGTH = 6;
    private static final int FIRST_WORD_ID = 2; // after <pad> and <unk>

    private final List<String> vocabulary;

    public Correction(List<String> vocabulary) {
        this.vocabulary = vocabulary;
    }

    /** How many edits a typed word of {@code length} characters may be from its correction. */
    public static int maxDistance(int length) {
        if (length < MIN_LENGTH) {
            return 0;
        }
        return length >= TWO_EDITS_LENGTH ? 2 : 1;
    }

    /**
     * Optimal string alignment distance (restricted Damerau-Levenshtein), as text.py's
     * edit_distance: "bleu" is one edit from "blue", "ca" three from "abc".
     */
    public static int editDistance(String a, String b) {
        int[] before = new int[b.length() + 1];
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                int distance = Math.min(Math.min(previous[j] + 1, current[j - 1] + 1), substitution);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    distance = Math.min(distance, before[j - 2] + 1); // the swap of a[i-2..i)
                }
                current[j] = distance;
            }
            int[] reused = before;
            before = previous;
            previous = current;
            current = reused;
        }
        return previous[b.length()];
    }

    /** The id of the word an unknown {@code word} is read as, or -1 when it stays unknown. */
    public int correct(String word) {
        int limit = maxDistance(word.length());
        int best = -1;
        int bestDistance = limit + 1;
        for (int id = FIRST_WORD_ID; id < vocabulary.size() && limit > 0; id++) {
            String candidate = vocabulary.get(id);
            if (candidate.length() < MIN_LENGTH || Math.abs(candidate.length() - word.length()) >= bestDistance) {
                continue;
            }
            int distance = editDistance(word, candidate);
            if (distance < bestDistance) {
                best = id;
                bestDistance = distance;
            }
        }
        return best;
    }

    /**
     * Test harness: {@code java Correction.java vocab.txt < words} prints, for each input line
     * (one unknown word), the word it is read as, or an empty line.
     */
    public static void main(String[] args) throws IOException {
        List<String> vocabulary = Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8);
        Correction correction = new Correction(vocabulary);
        BufferedReader input = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line = input.readLine(); line != null; line = input.readLine()) {
            int id = correction.correct(line);
            out.append(id < 0 ? "" : vocabulary.get(id)).append('\n');
        }
        System.out.print(out);
    }
}
