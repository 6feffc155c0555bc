"""export/common.py: the examples every export check and the int8 calibration run on."""
import numpy as np

from mimnet_tf.data import text
from mimnet_tf.export import common


def test_prepared_captions_are_encoded_with_the_models_own_vocabulary(trained):
    """A model whose vocabulary is not the data folder's (data rendered again since it was trained)
    gets ids of its own words: the data's ids would index past its word embedding (the int8
    calibration of such a model failed with 'gather index out of bounds')."""
    model_words = trained.vocab.words[:6]
    smaller = trained._replace(vocab=text.Vocabulary(model_words))
    examples = common.parity_batches(smaller, 4, split="train")
    for example in examples:
        ids = example["token_ids"][0]
        assert ids.max() < len(model_words)
        np.testing.assert_array_equal(ids, smaller.vocab.encode(example["caption"], trained.config.model.max_words)[0])
    assert any(np.any(e["token_ids"] == text.UNK_ID) for e in examples)  # the data's other words are unknown here
    # With the data's own vocabulary the ids are the ones training saw.
    same = common.parity_batches(trained, 4, split="train")
    assert max(int(e["token_ids"].max()) for e in same) >= len(model_words)
