"""MirrorGAN on SynthBirds: train for a time budget, then measure what the generated birds show.

    python benchmarks/mirrorgan_synthbirds.py --flagfile=configs/synthbirds_mirrorgan.flags --minutes=5

Needs the pretrained DAMSM (--damsm_dir) and STREAM (--stream_dir) of the flagfile. Trains
`--model_dir` through the shared training loop (`train_lib.setup(...).fit`) in chunks until
`--minutes` of training have passed (a rerun resumes), then generates one bird per test caption
(`--eval_images`, the captions of the SynthBirds test scenes) and reports:
- attribute accuracy per part: how often the attribute probe (metrics/attribute_probe.py)
  reads, on the generated bird, the colour its caption names; the same for the real test
  images as the ceiling, and chance (1 / 11);
- R-precision (AttnGAN protocol, DAMSM cosine, 1 true caption among 100) of generated and real
  images;
- IS and FID when `--inception_weights` names the local Inception-v3 file;
- the training time and steps.
Writes `<results>.json` and `<results>.md` and prints the table.
"""
from __future__ import annotations

import dataclasses
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from mimnet_tf import flags as mimnet_flags  # noqa: E402

mimnet_flags.define_flags()
_MINUTES = flags.DEFINE_float("minutes", 5.0, "training budget in minutes (wall clock of the training steps)")
_CHUNK = flags.DEFINE_integer("chunk_steps", 25, "steps between budget checks (each chunk ends with a checkpoint)")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 600, "test captions to generate a bird for")
_PROBE_DIR = flags.DEFINE_string("probe_dir", "runs/attribute_probe", "where the attribute probe is cached")
_INCEPTION = flags.DEFINE_string("inception_weights", "", "local Inception-v3 weights file for IS/FID ('' = skip)")
_RESULTS = flags.DEFINE_string("results", "", "output path prefix ('' = <model_dir>/benchmark)")
FLAGS = flags.FLAGS


def evaluation_set(data_config, vocab, count: int):
    """The first `count` SynthBirds test scenes: real images, first captions, token ids, named parts."""
    import numpy as np

    from mimnet_tf.data.synthbirds.captions import captions_for, named_parts
    from mimnet_tf.data.synthbirds.render import render, sample_scene

    real, captions, ids, named = [], [], [], []
    for index in range(count):
        scene = sample_scene(data_config.seed, "test", index)
        caption = captions_for(scene)[0]
        real.append(render(scene, data_config.image_size).image)
        captions.append(caption)
        ids.append(vocab.encode(caption, data_config.max_words)[0])
        named.append(named_parts(caption, scene.bird.as_dict()))
    return np.stack(real), captions, np.stack(ids), named


def r_precision_of(damsm, images_uint8, token_ids) -> float:
    import numpy as np
    import tensorflow as tf

    from mimnet_tf.images import to_model_range
    from mimnet_tf.metrics.similarity import r_precision

    image_features, text_features = [], []
    for start in range(0, len(images_uint8), 100):
        batch = tf.constant(to_model_range(images_uint8[start:start + 100]))
        image_features.append(damsm.image_encoder(batch)["global"].numpy())
        text_features.append(damsm.text_encoder(tf.constant(token_ids[start:start + 100]))["sentence"].numpy())
    images, texts = np.concatenate(image_features), np.concatenate(text_features)
    return r_precision(images, texts, num_candidates=min(100, len(images)), seed=0)


def main(argv):
    del argv
    import numpy as np

    from mimnet_tf.generate_lib import generate_images
    from mimnet_tf.metrics.attribute_probe import CHANCE, AttributeProbe
    from mimnet_tf.metrics.statistics import format_table, write_results
    from mimnet_tf.models.damsm import damsm_from_dir

    config = mimnet_flags.config_from_flags(FLAGS)
    if config.model.model != "mirrorgan" or config.data.dataset != "synthbirds":
        raise app.UsageError("this benchmark trains --model=mirrorgan on --dataset=synthbirds")
    from mimnet_tf import train_lib

    run = train_lib.train_for_minutes(config, _MINUTES.value, _CHUNK.value)
    training = run.pop("training")
    generator = training.model.generator
    real, captions, token_ids, named = evaluation_set(training.config.data, training.vocab, _EVAL_IMAGES.value)
    generated = np.concatenate([generate_images(generator, token_ids[i:i + 100], seed=1, stream=i)
                                for i in range(0, len(token_ids), 100)])

    probe = AttributeProbe.load_or_train(_PROBE_DIR.value)
    fake_scores = probe.attribute_accuracy(generated, named)
    real_scores = probe.attribute_accuracy(real, named)
    damsm = damsm_from_dir(config.model.damsm_dir, training.vocab)
    rows = [{"part": part, "generated": fake_scores["parts"][part]["accuracy"],
             "real": real_scores["parts"][part]["accuracy"], "chance": CHANCE,
             "probe_held_out": probe.held_out[part], "named": fake_scores["parts"][part]["count"]}
            for part in fake_scores["parts"]]
    rows.append({"part": "all named parts", "generated": fake_scores["overall"], "real": real_scores["overall"],
                 "chance": CHANCE, "probe_held_out": probe.held_out["mean"], "named": fake_scores["count"]})
    metrics = {"r_precision_generated": r_precision_of(damsm, generated, token_ids),
               "r_precision_real": r_precision_of(damsm, real, token_ids),
               "r_precision_candidates": min(100, len(token_ids)), "eval_images": len(token_ids), **run}
    if _INCEPTION.value:
        from mimnet_tf.metrics.inception import InceptionNetwork, compute_is_fid

        metrics.update(compute_is_fid(real, generated, InceptionNetwork(_INCEPTION.value)))
    else:
        metrics["is_fid"] = "skipped: pass --inception_weights=<local inception_v3 .h5> for IS and FID"
    results = _RESULTS.value or os.path.join(config.train.model_dir, "benchmark")
    title = (f"MirrorGAN on SynthBirds after {run['train_seconds'] / 60:.1f} min of training "
             f"({run['step']} steps): attribute accuracy (probe) per named part")
    write_results(results, rows, title=title, metadata=metrics)
    print(format_table(rows, title=title))
    for name, value in metrics.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    app.run(main)
