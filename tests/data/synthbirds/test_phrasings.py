"""Held-out phrasing families: read back exactly, kept out of training, typos one edit away."""
import collections

import numpy as np
import pytest

from mimnet_tf.data.synthbirds import captions, phrasings
from mimnet_tf.data.synthbirds.captions import captions_for, named_parts
from mimnet_tf.data.synthbirds.edit_cases import edit_cases, identity_cases, rephrase
from mimnet_tf.data.synthbirds.render import sample_scene
from mimnet_tf.data.text import edit_distance, split_words


@pytest.fixture(scope="module")
def cases():
    return edit_cases(seed=0, num=150)


@pytest.fixture(scope="module")
def training_words():
    words = collections.Counter()
    for index in range(600):
        for caption in captions_for(sample_scene(0, "train", index)):
            words.update(split_words(caption))
    return words


@pytest.mark.parametrize("phrasing", [p for p in phrasings.PHRASINGS if p not in phrasings.MISSPELT])
def test_every_phrasing_names_exactly_the_case_parts(cases, phrasing):
    families = collections.Counter()
    for index, case in enumerate(cases):
        rewritten = rephrase(case, phrasing, index)
        assert rewritten.source == case.source and rewritten.target == case.target
        assert named_parts(rewritten.caption, case.target.bird.as_dict()) == rewritten.named_dict, rewritten.caption
        if phrasing != phrasings.TEMPLATE:  # a request names only what changes
            assert set(rewritten.named_dict) == set(case.changed) and rewritten.kept == ()
            assert rewritten.caption != case.caption
        families[phrasings.family_for(phrasing, index)] += 1
        assert rephrase(case, phrasing, index) == rewritten  # deterministic
    if phrasing == phrasings.HELD_OUT:  # cycles through every family
        assert set(families) == set(phrasings.HELD_OUT_FAMILIES)


def test_identity_cases_are_rephrased_as_requests_for_the_colours_they_have():
    for index, case in enumerate(identity_cases(0, 30)):
        rewritten = rephrase(case, phrasings.HELD_OUT, index)
        assert rewritten.changed == () and rewritten.target == rewritten.source
        assert rewritten.named_dict == case.named_dict and set(rewritten.kept) == set(case.named_dict)
        assert named_parts(rewritten.caption, case.source.bird.as_dict()) == case.named_dict, rewritten.caption


def test_held_out_families_never_reach_training(training_words):
    vocabulary = set(training_words)
    for family, markers in phrasings.MARKERS.items():
        assert family in phrasings.HELD_OUT_FAMILIES
        assert not set(markers) & vocabulary, family
    assert set(phrasings.HELD_OUT_FAMILIES) == set(phrasings.MARKERS)
    # every family says something no training caption says: a marker word, or a word order
    assert all(phrasings.MARKERS[f] for f in phrasings.HELD_OUT_FAMILIES)


def test_training_captions_use_the_word_orders_and_words_of_real_captions(training_words):
    for word in ("is", "are", "that", "its", "whose", "make", "change", "crest", "chest", "bill", "gray", "violet"):
        assert training_words[word] > 20, word


def test_typos_are_one_letter_off_and_not_another_colour(cases):
    rng = np.random.default_rng(0)
    kinds = collections.Counter()
    for _ in range(2000):
        word = str(rng.choice(sorted(captions.WORD_TO_COLOUR)))
        typed = phrasings.typo(word, rng)
        assert edit_distance(word, typed) == 1 and typed not in captions.WORD_TO_COLOUR, (word, typed)
        kinds[len(typed) - len(word)] += 1
    assert set(kinds) == {-1, 0, 1}  # deletions, substitutions, insertions
    for index, case in enumerate(cases[:40]):
        rewritten = rephrase(case, phrasings.TYPO, index)
        assert rewritten.named == case.named
        typed = [w for w in split_words(rewritten.caption) if w not in split_words(case.caption)]
        assert len(typed) == sum(w in captions.WORD_TO_COLOUR for w in split_words(case.caption))


def test_transpositions_swap_two_adjacent_letters_and_are_not_another_colour(cases):
    rng = np.random.default_rng(0)
    seen = collections.defaultdict(set)
    for _ in range(2000):
        word = str(rng.choice(sorted(captions.WORD_TO_COLOUR)))
        typed = phrasings.transposition(word, rng)
        differ = [i for i in range(len(word)) if typed[i] != word[i]]
        assert len(typed) == len(word) and len(differ) == 2 and differ[1] == differ[0] + 1, (word, typed)
        assert typed[differ[0]] == word[differ[1]] and typed[differ[1]] == word[differ[0]], (word, typed)
        assert typed not in captions.WORD_TO_COLOUR and typed not in captions.WORD_TO_PART, (word, typed)
        seen[word].add(differ[0])
    # every swap of two different letters is drawn ("green": never its "ee")
    assert seen["green"] == {0, 1, 3} and seen["blue"] == {0, 1, 2}
    for index, case in enumerate(cases[:40]):
        rewritten = rephrase(case, phrasings.TRANSPOSED, index)
        assert rewritten.named == case.named and rewritten == rephrase(case, phrasings.TRANSPOSED, index)
        typed = [w for w in split_words(rewritten.caption) if w not in split_words(case.caption)]
        assert len(typed) == sum(w in captions.WORD_TO_COLOUR for w in split_words(case.caption))
        assert sorted(map(sorted, typed)) == sorted(sorted(w) for w in split_words(case.caption)
                                                    if w in captions.WORD_TO_COLOUR)
    with pytest.raises(ValueError, match="'aaa' has no two adjacent letters"):
        phrasings.transposition("aaa", rng)


def test_validation_cases_are_other_scenes_than_the_test_cases():
    test, validation = edit_cases(0, 50), edit_cases(0, 50, split="validation")
    assert all(c.source.split == "validation" for c in validation)
    assert not {c.source.key for c in test} & {c.source.key for c in validation}
    assert not {c.source.background.texture_seed for c in test} & {c.source.background.texture_seed for c in validation}
    assert edit_cases(0, 50, split="validation") == validation
    assert identity_cases(0, 5, split="validation")[0].source.split == "validation"
    with pytest.raises(ValueError, match="split must be one of"):
        edit_cases(0, 5, split="train")
    with pytest.raises(ValueError, match="phrasing="):
        rephrase(test[0], "shouting", 0)
