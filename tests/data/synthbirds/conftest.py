"""Shared SynthBirds fixtures: renders made once per test session (rendering is the slow part)."""
import pytest

from mimnet_tf.data.synthbirds.render import render, sample_scene

NUM_SCENES = 300


@pytest.fixture(scope="session")
def test_renders_64():
    """[(scene, rendering)] of the first NUM_SCENES test-split scenes at 64 px."""
    scenes = [sample_scene(0, "test", i) for i in range(NUM_SCENES)]
    return [(scene, render(scene, 64)) for scene in scenes]
