import numpy as np
import pytest

from mimnet_tf.data.synthbirds.palette import COLOUR_NAMES, COLOURABLE_PARTS, dominant_colour
from mimnet_tf.data.synthbirds.render import render, sample_scene, with_colours
from mimnet_tf.metrics.attribute_probe import CHANCE, AttributeProbe, ProbeConfig, build_network, probe_renders

TINY = ProbeConfig(image_size=16, num_train=32, num_test=8, epochs=1, batch_size=16, width=4, seed=3)


def test_renders_are_labelled_with_the_colours_painted_on_each_part():
    images, labels = probe_renders("train", 6, 64, seed=5)
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.uint8
    assert labels.shape == (6, len(COLOURABLE_PARTS))
    checked = 0
    for index in range(6):
        colours = {p: COLOUR_NAMES[c] for p, c in zip(COLOURABLE_PARTS, labels[index])}
        rendering = render(with_colours(sample_scene(5, "train", index), colours), 64)
        np.testing.assert_array_equal(rendering.image, images[index])
        for part, colour in colours.items():
            mask = rendering.part_mask(part)
            if mask.sum() >= 4:
                assert dominant_colour(rendering.image, mask) == colour
                checked += 1
    assert checked >= 20


def test_part_colours_are_drawn_independently_of_the_species():
    _, labels = probe_renders("test", 120, 8, seed=5)
    for column in labels.T:
        assert len(np.unique(column)) == len(COLOUR_NAMES)
    # Two parts agree about as often as chance says (1 / 11), not as a species scheme would.
    agreement = np.mean(labels[:, 0] == labels[:, 1])
    assert agreement < 3 * CHANCE


def test_network_heads():
    network = build_network(16, width=4)
    outputs = network(np.zeros((2, 16, 16, 3), "float32"))
    assert set(outputs) == set(COLOURABLE_PARTS)
    assert all(tuple(v.shape) == (2, len(COLOUR_NAMES)) for v in outputs.values())
    with pytest.raises(ValueError, match="multiple of 8"):
        build_network(20)


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("probe"))
    messages = []
    AttributeProbe.load_or_train(directory, TINY, log=messages.append)
    assert any("trained" in m for m in messages)
    return directory


def test_the_probe_is_cached_and_reloaded(probe_dir):
    messages = []
    probe = AttributeProbe.load_or_train(probe_dir, TINY, log=messages.append)
    assert len(messages) == 1 and "loaded" in messages[0]
    assert set(probe.held_out) == set(COLOURABLE_PARTS) | {"mean"}
    images, _ = probe_renders("test", 4, 16, seed=9)
    trained = AttributeProbe.load(probe_dir)
    np.testing.assert_array_equal(probe.predict(images), trained.predict(images))
    # Images of another size are resized to the probe's; [-1, 1] floats read as uint8 do.
    big, _ = probe_renders("test", 2, 32, seed=9)
    assert probe.predict(big).shape == (2, len(COLOURABLE_PARTS))
    np.testing.assert_array_equal(probe.predict(images.astype("float32") / 127.5 - 1.0), probe.predict(images))


def test_another_configuration_is_not_served_from_the_cache(probe_dir, tmp_path):
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(probe_dir, copy)
    messages = []
    other = ProbeConfig(**{**TINY.__dict__, "num_train": 16})
    probe = AttributeProbe.load_or_train(copy, other, log=messages.append)
    assert "another configuration" in messages[0]
    assert probe.config == other


def test_attribute_accuracy_counts_only_the_named_parts(probe_dir):
    probe = AttributeProbe.load(probe_dir)
    images, _ = probe_renders("test", 4, 16, seed=11)
    read = probe.predict(images)
    right = [{"crown": COLOUR_NAMES[read[i, 0]], "wings": COLOUR_NAMES[read[i, 3]]} for i in range(4)]
    right[0]["beak"] = COLOUR_NAMES[read[0, 5]]
    wrong = [{"crown": COLOUR_NAMES[(read[i, 0] + 1) % len(COLOUR_NAMES)]} for i in range(4)]

    scores = probe.attribute_accuracy(images, right)
    assert scores["overall"] == 1.0 and scores["count"] == 9 and scores["chance"] == CHANCE
    assert scores["parts"]["crown"] == {"accuracy": 1.0, "count": 4}
    assert scores["parts"]["beak"] == {"accuracy": 1.0, "count": 1}
    assert scores["parts"]["belly"] == {"accuracy": None, "count": 0}
    assert probe.attribute_accuracy(images, wrong)["parts"]["crown"]["accuracy"] == 0.0

    mixed = probe.attribute_accuracy(images, right[:2] + wrong[2:])
    assert mixed["parts"]["crown"]["accuracy"] == 0.5
    with pytest.raises(ValueError, match="one each"):
        probe.attribute_accuracy(images, right[:3])
    with pytest.raises(ValueError, match="Unknown part"):
        probe.attribute_accuracy(images[:1], [{"feet": "red"}])
    with pytest.raises(ValueError, match="Unknown colour"):
        probe.attribute_accuracy(images[:1], [{"crown": "teal"}])


def test_features_are_what_the_part_classifiers_read(probe_dir):
    probe = AttributeProbe.load(probe_dir)
    images, _ = probe_renders("test", 3, 16, seed=13)
    features = probe.features(images)
    width = 4 * TINY.width
    assert features.shape == (3, len(COLOURABLE_PARTS) * width) and features.dtype == np.float32
    # Each part's slice, through that part's own classifier, gives the probe's reading of that part.
    read = probe.predict(images)
    for index, part in enumerate(COLOURABLE_PARTS):
        logits = probe.network.get_layer(part)(features[:, index * width:(index + 1) * width])
        np.testing.assert_array_equal(np.argmax(logits, axis=-1), read[:, index])
    np.testing.assert_array_equal(probe.features(images), features)  # deterministic
