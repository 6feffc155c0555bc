import collections

import numpy as np
import pytest

from mimnet_tf.data.synthbirds import captions
from mimnet_tf.data.synthbirds.captions import (CAPTION_MAX_WORDS, MAX_WORDS, PART_WORDS, TRAINING_FORMS,
                                                captions_for, describe, named_parts)
from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS
from mimnet_tf.data.synthbirds.render import sample_scene
from mimnet_tf.data.text import split_words

_WHOLE_BIRD = ("mostly", "bird")


def _random_colours(rng, shared=0):
    colours = {p: COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))] for p in COLOURABLE_PARTS}
    if shared:  # force `shared` parts to one colour so the whole-bird forms get exercised
        colour = COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))]
        for part in rng.choice(COLOURABLE_PARTS, size=shared, replace=False):
            colours[str(part)] = colour
    return colours


def _is_whole_bird(caption, colours):
    words = split_words(caption)
    return "mostly" in words or any(w == "bird" and i and words[i - 1] in COLOUR_NAMES for i, w in enumerate(words))


def test_part_and_colour_words_have_cub_synonyms():
    assert set(PART_WORDS) == set(COLOURABLE_PARTS)
    assert PART_WORDS["belly"] == ("belly", "breast", "chest")
    assert PART_WORDS["beak"] == ("beak", "bill") and PART_WORDS["crown"] == ("crown", "crest")
    assert PART_WORDS["wings"] == ("wings", "wing")
    assert captions.COLOUR_WORDS["grey"] == ("grey", "gray") and captions.COLOUR_WORDS["purple"] == ("purple", "violet")
    assert set(captions.COLOUR_WORDS) == set(COLOUR_NAMES)


def test_named_parts_reads_literal_captions():
    assert named_parts("this bird has a red crown, blue wings and a white belly") == {
        "crown": "red", "belly": "white", "wings": "blue"
    }
    assert named_parts("A small bird with GREY wings and a short orange beak.") == {"wings": "grey", "beak": "orange"}
    assert named_parts("the bird has a yellow head and a black tail") == {"head": "yellow", "tail": "black"}
    assert named_parts("a bird with a green bill and a pink breast") == {"belly": "pink", "beak": "green"}
    colours = {"crown": "blue", "head": "blue", "belly": "blue", "wings": "white", "tail": "black", "beak": "blue"}
    assert named_parts("this is a blue bird with white wings", colours) == {
        "crown": "blue", "head": "blue", "belly": "blue", "wings": "white", "beak": "blue"
    }
    mostly = {"crown": "blue", "head": "blue", "belly": "blue", "beak": "blue"}
    assert named_parts("the bird is mostly blue", colours) == mostly
    with pytest.raises(ValueError, match="pass `colours`"):
        named_parts("the bird is mostly blue")


@pytest.mark.parametrize("caption, expected", [
    ("the crown is red", {"crown": "red"}),
    ("this bird has wings that are brown and a yellow belly", {"belly": "yellow", "wings": "brown"}),
    ("its belly is white", {"belly": "white"}),
    ("a bird whose tail is black", {"tail": "black"}),
    ("the bill is short and black", {"beak": "black"}),
    ("this is a small bird. it has a grey head and the wings are black.", {"head": "grey", "wings": "black"}),
    ("this bird's crest is bright red and its chest is gray", {"crown": "red", "belly": "grey"}),
    ("small with a short orange bill", {"beak": "orange"}),
    ("make the wings blue and its crown violet", {"crown": "purple", "wings": "blue"}),
    ("change its beak to yellow", {"beak": "yellow"}),
    ("turn the wing red", {"wings": "red"}),
    ("give it a red crown and blue wings", {"crown": "red", "wings": "blue"}),
    ("a head that is purple and wings that are black, a black tail", {"head": "purple", "wings": "black",
                                                                      "tail": "black"}),
    # held-out families (phrasings.py)
    ("i would like the wings to be blue and the crown to be red", {"crown": "red", "wings": "blue"}),
    ("blue on the wings and red for the crown", {"crown": "red", "wings": "blue"}),
    ("can you make its tail green?", {"tail": "green"}),
])
def test_named_parts_reads_every_form(caption, expected):
    assert named_parts(caption) == expected


def _random_items(rng, count):
    colours = {p: COLOUR_NAMES[int(rng.integers(len(COLOUR_NAMES)))] for p in COLOURABLE_PARTS}
    parts = [str(p) for p in rng.permutation(COLOURABLE_PARTS)[:count]]
    return colours, [(p, colours[p]) for p in parts]


@pytest.mark.parametrize("form", sorted(TRAINING_FORMS))
def test_each_training_form_is_read_back_exactly(form):
    rng = np.random.default_rng(sorted(TRAINING_FORMS).index(form))
    words = collections.Counter()
    for trial in range(600):
        colours, items = _random_items(rng, int(rng.integers(1, 7)))
        caption = captions.realise(TRAINING_FORMS[form][0], items, captions.Context(rng, {"beak": "short"}))
        assert len(split_words(caption)) <= CAPTION_MAX_WORDS, caption
        named = named_parts(caption, colours)
        # a long caption leaves its last items out to fit; what it names, it names exactly
        assert named and list(named.items()) == sorted(items[:len(named)],
                                                       key=lambda item: COLOURABLE_PARTS.index(item[0])), caption
        words.update(split_words(caption))
    if form in ("clauses", "fragment"):
        assert words["bird"] == 0  # captions that never say "bird"


def test_describe_names_exactly_the_given_parts():
    rng = np.random.default_rng(0)
    templates, synonyms = collections.Counter(), collections.Counter()
    for trial in range(3000):
        colours = _random_colours(rng, shared=int(rng.integers(0, 5)))
        parts = [str(p) for p in rng.permutation(COLOURABLE_PARTS)[: int(rng.integers(1, 6))]]
        whole = captions.whole_bird_colour(colours, parts)
        caption = describe(colours, parts, rng, {"beak": "short", "tail": "long"}, whole_bird=0.5)
        words = split_words(caption)
        assert named_parts(caption, colours) == {p: colours[p] for p in COLOURABLE_PARTS if p in parts}, caption
        assert len(words) <= MAX_WORDS, caption
        if _is_whole_bird(caption, colours):
            assert whole is not None, caption
            templates["whole"] += 1
        else:
            # every part word is named explicitly, its colour right before it
            named_words = [w for w in words if w in captions.WORD_TO_PART]
            assert len(named_words) == len(parts), caption
            for i, word in enumerate(words):
                if word in captions.WORD_TO_PART:
                    assert words[i - 1] == colours[captions.WORD_TO_PART[word]], caption
            templates[" ".join(words[:3])] += 1
        synonyms.update(w for w in words if w in ("breast", "bill", "short", "long"))
    assert templates["whole"] > 50 and len(templates) >= 8
    assert min(synonyms[w] for w in ("breast", "bill", "short", "long")) > 50


def test_describe_validates_its_input():
    rng = np.random.default_rng(0)
    colours = {p: "red" for p in COLOURABLE_PARTS}
    with pytest.raises(ValueError, match="at least one part"):
        describe(colours, [], rng)
    with pytest.raises(ValueError, match="Unknown part"):
        describe(colours, ["eye"], rng)
    with pytest.raises(ValueError, match="No colour given"):
        describe({"crown": "red"}, ["crown", "tail"], rng)
    with pytest.raises(ValueError, match="distinct"):
        describe(colours, ["tail", "tail"], rng)
    with pytest.raises(ValueError, match="Unknown colour"):
        describe({**colours, "tail": "teal"}, ["tail"], rng)


def test_captions_for_is_deterministic_and_varied():
    mentions, counts, total, whole, no_bird, requests = collections.Counter(), collections.Counter(), 0, 0, 0, 0
    part_first = 0
    for index in range(300):
        scene = sample_scene(0, "train", index)
        colours = scene.bird.as_dict()
        texts = captions_for(scene)
        assert len(texts) == 10 and texts == captions_for(scene)
        assert len(captions_for(scene, 3)) == 3
        adjectives = captions.shape_adjectives(scene.bird)
        for text in texts:
            named = named_parts(text, colours)
            assert named and named == {p: colours[p] for p in named}, text
            words = split_words(text)
            assert len(words) <= CAPTION_MAX_WORDS, text
            whole += _is_whole_bird(text, colours)
            no_bird += "bird" not in words
            requests += words[0] in ("make", "change", "turn", "give")
            part_first += any(w in captions.WORD_TO_PART and i + 1 < len(words) and words[i + 1] in ("is", "are", "that")
                              for i, w in enumerate(words))
            for i, word in enumerate(words[:-1]):  # "short"/"long" tell the truth about beak and tail
                if word in ("short", "long"):
                    following = next(w for w in words[i + 1:] if w in captions.WORD_TO_PART) \
                        if words[i + 1] != "and" else next(w for w in reversed(words[:i]) if w in captions.WORD_TO_PART)
                    assert adjectives[captions.WORD_TO_PART[following]] == word, text
            mentions.update(named.keys())
            counts[len(named)] += 1
            total += 1
    rate = {p: mentions[p] / total for p in COLOURABLE_PARTS}
    assert rate["wings"] == max(rate.values())
    assert max(rate["beak"], rate["tail"]) < min(rate["crown"], rate["head"], rate["belly"])
    assert 0.01 < whole / total < 0.2
    assert 0.15 < no_bird / total and 0.1 < requests / total < 0.35 and 0.2 < part_first / total
    assert set(counts) == {1, 2, 3, 4, 5, 6}  # from one part to the whole bird


def test_mostly_captions_appear_when_three_parts_share_a_colour():
    rng = np.random.default_rng(1)
    colours = {"crown": "red", "head": "red", "belly": "red", "wings": "black", "tail": "white", "beak": "grey"}
    caption = describe(colours, ["wings", "head", "crown", "belly"], rng, whole_bird=1.0)
    assert _is_whole_bird(caption, colours) and "red" in split_words(caption)
    assert named_parts(caption, colours) == {"crown": "red", "head": "red", "belly": "red", "wings": "black"}
    # not eligible when one red part is missing from the list: the parts are listed one by one
    caption = describe(colours, ["wings", "head", "crown"], rng, whole_bird=1.0)
    assert not _is_whole_bird(caption, colours)
