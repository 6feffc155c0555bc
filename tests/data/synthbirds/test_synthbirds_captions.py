import collections

import numpy as np
import pytest

from mimnet_tf.data.synthbirds import captions
from mimnet_tf.data.synthbirds.captions import MAX_WORDS, PART_WORDS, captions_for, describe, named_parts
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


def test_part_words_have_cub_synonyms():
    assert set(PART_WORDS) == set(COLOURABLE_PARTS)
    assert PART_WORDS["belly"] == ("belly", "breast")
    assert PART_WORDS["beak"] == ("beak", "bill")
    assert all(PART_WORDS[p] == (p,) for p in ("crown", "head", "wings", "tail"))


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
            named_words = [w for w in words if w in captions._WORD_TO_PART]
            assert len(named_words) == len(parts), caption
            for i, word in enumerate(words):
                if word in captions._WORD_TO_PART:
                    assert words[i - 1] == colours[captions._WORD_TO_PART[word]], caption
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


def test_captions_for_is_deterministic_and_cub_like():
    mentions, counts, total, whole = collections.Counter(), collections.Counter(), 0, 0
    for index in range(200):
        scene = sample_scene(0, "train", index)
        colours = scene.bird.as_dict()
        texts = captions_for(scene)
        assert len(texts) == 10 and texts == captions_for(scene)
        assert len(captions_for(scene, 3)) == 3
        adjectives = captions.shape_adjectives(scene.bird)
        for text in texts:
            named = named_parts(text, colours)
            assert named == {p: colours[p] for p in named}, text
            assert len(split_words(text)) <= MAX_WORDS, text
            if _is_whole_bird(text, colours):
                whole += 1
            else:
                assert 2 <= len(named) <= 4, text
            words = split_words(text)
            for i, word in enumerate(words[:-2]):  # "short"/"long" tell the truth about beak and tail
                if word in ("short", "long"):
                    assert adjectives[captions._WORD_TO_PART[words[i + 2]]] == word, text
            mentions.update(named.keys())
            total += 1
    rate = {p: mentions[p] / total for p in COLOURABLE_PARTS}
    assert rate["wings"] == max(rate.values()) and rate["wings"] > 0.6
    assert max(rate["beak"], rate["tail"]) < min(rate["crown"], rate["head"], rate["belly"])
    assert 0.03 < whole / total < 0.3


def test_mostly_captions_appear_when_three_parts_share_a_colour():
    rng = np.random.default_rng(1)
    colours = {"crown": "red", "head": "red", "belly": "red", "wings": "black", "tail": "white", "beak": "grey"}
    caption = describe(colours, ["wings", "head", "crown", "belly"], rng, whole_bird=1.0)
    assert _is_whole_bird(caption, colours) and "red" in split_words(caption)
    assert named_parts(caption, colours) == {"crown": "red", "head": "red", "belly": "red", "wings": "black"}
    # not eligible when one red part is missing from the list: the parts are listed one by one
    caption = describe(colours, ["wings", "head", "crown"], rng, whole_bird=1.0)
    assert not _is_whole_bird(caption, colours)
