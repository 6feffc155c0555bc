import numpy as np

from mimnet_tf.apps.generate_lib import generation_noise, slug


def test_slug_keeps_the_first_words_file_name_safe():
    assert slug("A red bird, with BLUE wings!") == "a_red_bird_with_blue_wings"
    assert slug("this bird has a very long caption indeed") == "this_bird_has_a_very_long"
    assert slug("!!!") == "caption"


def test_generation_noise_is_a_function_of_seed_and_stream():
    z, eps = generation_noise(3, 1, 4, 5, 2)
    assert z.shape == (4, 5) and eps.shape == (4, 2)
    again, _ = generation_noise(3, 1, 4, 5, 2)
    np.testing.assert_array_equal(z, again)
    other_caption, _ = generation_noise(3, 2, 4, 5, 2)
    other_seed, _ = generation_noise(4, 1, 4, 5, 2)
    assert not np.allclose(z, other_caption) and not np.allclose(z, other_seed)
    assert abs(float(np.mean(generation_noise(0, 0, 2000, 8, 1)[0]))) < 0.05  # standard normal draws
