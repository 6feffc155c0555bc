"""MirrorGAN on SynthBirds: train for a time budget, then measure what the generated birds show.

    python benchmarks/mirrorgan_synthbirds.py --flagfile=configs/synthbirds_mirrorgan.flags --minutes=5

Needs the pretrained DAMSM (--damsm_dir) and STREAM (--stream_dir) of the flagfile. Trains
`--model_dir` through the shared training loop (`train_lib.setup(...).fit`) in chunks until
`--minutes` of training have passed (a rerun resumes), then scores the generator it has just
trained with the text-to-image benchmark (`mimnet_tf/apps/benchmark_generation_lib.py`, what
`python -m mimnet_tf.benchmark_generation` runs on a saved model): one bird per caption of
`--eval_images` scenes of `--split` (validation by default), in each `--phrasing`:
- attribute accuracy per part: how often the attribute probe (metrics/attribute_probe.py)
  reads, on the generated bird, the colour its caption names; the same for the real renders
  as the ceiling, and chance (1 / 11);
- R-precision (AttnGAN protocol, DAMSM cosine, 1 true caption among 100) of generated and real
  images; FID on the attribute probe's features; diversity across noise; unknown prompt words;
- IS and FID on Inception-v3 when `--inception_weights` names the local weights file;
- the training time and steps.
Writes `<results>.json` and `<results>.md` and prints the table.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from mimnet_tf import flags as mimnet_flags  # noqa: E402

mimnet_flags.define_flags()
_MINUTES = flags.DEFINE_float("minutes", 5.0, "training budget in minutes (wall clock of the training steps)")
_CHUNK = flags.DEFINE_integer("chunk_steps", 25, "steps between budget checks (each chunk ends with a checkpoint)")
_EVAL_IMAGES = flags.DEFINE_integer("eval_images", 600, "scenes to generate a bird for (one caption each)")
_SPLIT = flags.DEFINE_enum("split", "validation", ["validation", "test"], "whose scenes are drawn")
_PHRASING = flags.DEFINE_list("phrasing", ["template"], "caption phrasings, each a column (see benchmark_generation)")
_PROBE_DIR = flags.DEFINE_string("probe_dir", "runs/attribute_probe", "where the attribute probe is cached")
_INCEPTION = flags.DEFINE_string("inception_weights", "", "local Inception-v3 weights file for IS/FID ('' = skip)")
_RESULTS = flags.DEFINE_string("results", "", "output path prefix ('' = <model_dir>/benchmark)")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from mimnet_tf.apps import benchmark_generation_lib as generation
    from mimnet_tf.apps import train_lib
    from mimnet_tf.apps.evaluate_lib import load_damsm
    from mimnet_tf.metrics.attribute_probe import AttributeProbe
    from mimnet_tf.metrics.statistics import format_table, write_results

    config = mimnet_flags.config_from_flags(FLAGS)
    if config.model.model != "mirrorgan" or config.data.dataset != "synthbirds":
        raise app.UsageError("this benchmark trains --model=mirrorgan on --dataset=synthbirds")
    settings = generation.Settings(num_captions=_EVAL_IMAGES.value, split=_SPLIT.value,
                                   phrasings=tuple(_PHRASING.value))
    settings.check()
    run = train_lib.train_for_minutes(config, _MINUTES.value, _CHUNK.value)
    training = run.pop("training")
    probe = AttributeProbe.load_or_train(_PROBE_DIR.value)
    damsm = load_damsm(config.model.damsm_dir)
    results = generation.benchmark(training.model.generator, training.vocab, training.config.model.max_words,
                                   settings, probe, damsm, log=print)
    columns = results["columns"]
    metrics = {**run, "split": settings.split, "num_captions": settings.num_captions,
               "probe_held_out_accuracy": probe.held_out["mean"], "notes": generation.notes(settings)}
    if _INCEPTION.value:
        from mimnet_tf.metrics.inception import InceptionNetwork, compute_is_fid

        first = generation.column_name(settings.phrasings[0])
        metrics.update(compute_is_fid(results["images"][generation.REAL_COLUMN], results["images"][first],
                                      InceptionNetwork(_INCEPTION.value)))
    else:
        metrics["is_fid"] = "skipped: pass --inception_weights=<local inception_v3 .h5> for IS and FID"
    results_prefix = _RESULTS.value or os.path.join(config.train.model_dir, "benchmark")
    title = (f"MirrorGAN on SynthBirds after {run['train_seconds'] / 60:.1f} min of training "
             f"({run['step']} steps), {settings.split} scenes")
    rows = generation.comparison_rows(columns)
    write_results(results_prefix, rows, ["measure", *columns], title=title, metadata=metrics)
    print(format_table(rows, ["measure", *columns], title=title))
    for name, value in metrics.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    app.run(main)
