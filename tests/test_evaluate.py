"""The paper's evaluation protocol (mimnet_tf/evaluate.py, evaluate_lib.py) on a tiny test split."""
import json
import os

import numpy as np
import pytest

from mimnet_tf import images
from mimnet_tf.apps import evaluate_lib
from mimnet_tf.config import RunConfig
from mimnet_tf.metrics import inception, similarity
from tests.editing_fixtures import (  # noqa: F401  (fixtures)
    assert_one_line_error,
    run_cli,
    tiny_damsm_dir,
    tiny_editor,
    tiny_model_dir,
)


class PixelStatisticsNetwork:
    """A stand-in for InceptionNetwork (same `predict` contract): deterministic class
    probabilities and pool features from per-channel pixel statistics."""

    def __init__(self):
        rng = np.random.default_rng(5)
        self.projection = rng.normal(size=(6, 4))
        self.calls = 0

    def features(self, images_uint8):
        pixels = np.asarray(images_uint8, np.float64) / 255.0
        return np.concatenate([pixels.mean(axis=(1, 2)), pixels.std(axis=(1, 2))], axis=1)  # (N, 6)

    def predict(self, images_uint8, batch_size=None):
        self.calls += 1
        logits = 8.0 * self.features(images_uint8) @ self.projection
        probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probabilities / probabilities.sum(axis=1, keepdims=True), self.features(images_uint8)


@pytest.fixture(scope="module")
def data(tiny_model_dir):
    return RunConfig.load(os.path.join(tiny_model_dir, "config.json")).data


def _test_split(data):
    """All test images (uint8) and captions, read independently of evaluate_lib."""
    from mimnet_tf.data import pipeline

    pictures = []
    for batch in pipeline.make_dataset(data, "test", training=False, batch_size=5, splitter="core"):
        pictures.append(images.to_uint8(batch["image"].numpy()))
    _, captions = evaluate_lib.read_test_captions(data)
    return np.concatenate(pictures), captions


def test_draw_captions_uses_another_images_caption_deterministically():
    captions = [[f"caption {i} {k}" for k in range(3)] for i in range(7)]
    targets, own, others = evaluate_lib.draw_captions(captions, seed=4)
    for i in range(7):
        assert others[i] != i and targets[i] in captions[others[i]]
        assert own[i] in captions[i]
    assert evaluate_lib.draw_captions(captions, seed=4)[0] == targets
    assert any(evaluate_lib.draw_captions(captions, seed=s)[0] != targets for s in range(5, 9))
    with pytest.raises(ValueError, match="needs >= 2"):
        evaluate_lib.draw_captions(captions[:1], seed=0)


def test_evaluation_matches_a_direct_computation(tiny_model_dir, tiny_damsm_dir, tiny_editor, data, tmp_path):
    network = PixelStatisticsNetwork()
    scorer = evaluate_lib.DamsmScorer(tiny_damsm_dir)
    config = evaluate_lib.EvaluationConfig(data=data, checkpoint=tiny_model_dir, out=str(tmp_path), batch_size=3,
                                           seed=7, progress=False, is_splits=2)
    result = evaluate_lib.evaluate(config, log=lambda _: None, inception=network, damsm=scorer)
    rows = {row["method"]: row for row in result["rows"]}
    assert list(rows) == ["MIM-Net 32", "real images"]

    pictures, captions = _test_split(data)
    targets, own, _ = evaluate_lib.draw_captions(captions, seed=7)
    edited, _ = tiny_editor.edit(pictures, targets)
    model, real = rows["MIM-Net 32"], rows["real images"]
    assert model["images"] == len(pictures) == 8
    diff = np.abs(edited / 255.0 - pictures / 255.0).mean()
    assert model["Diff"] == pytest.approx(diff, abs=1e-6)
    sim = similarity.cosine_similarity(scorer.image_features(edited), scorer.text_features(targets))
    assert model["Sim"] == pytest.approx(sim.mean(), abs=1e-5)
    assert model["MP"] == pytest.approx((1 - model["Diff"]) * model["Sim"])
    assert model["R-precision"] == pytest.approx(similarity.r_precision(
        scorer.image_features(edited), scorer.text_features(targets), num_candidates=8, seed=7))
    probabilities, pools = network.predict(edited)
    _, real_pools = network.predict(pictures)
    assert model["IS"] == pytest.approx(inception.inception_score(probabilities, 2)[0])
    assert model["FID"] == pytest.approx(inception.fid_from_activations(real_pools, pools))
    # The "real images" row: unedited inputs with their own captions, as the paper's last row.
    assert real["Diff"] == 0.0 and "FID" not in real
    own_sim = similarity.cosine_similarity(scorer.image_features(pictures), scorer.text_features(own)).mean()
    assert real["Sim"] == pytest.approx(own_sim, abs=1e-5) and real["MP"] == pytest.approx(real["Sim"])

    json_path, md_path = result["paths"]
    assert json_path == os.path.join(str(tmp_path), "evaluation.json")
    with open(json_path, encoding="utf-8") as f:
        document = json.load(f)
    assert document["columns"] == ["method", "IS", "Sim", "Diff", "MP", "FID", "R-precision"]
    assert document["rows"][0]["Sim"] == pytest.approx(model["Sim"])
    assert document["metadata"]["images"] == 8 and document["metadata"]["r_precision_candidates"] == 8
    with open(md_path, encoding="utf-8") as f:
        markdown = f.read()
    assert "| method | IS | Sim | Diff | MP | FID | R-precision |" in markdown
    assert f"| MIM-Net 32 | {model['IS']:.2f} | {model['Sim']:.3f} | {model['Diff']:.3f} |" in markdown


def _without_timings(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_evaluation_is_deterministic_and_skips_what_it_cannot_measure(tiny_model_dir, data):
    messages = []
    config = evaluate_lib.EvaluationConfig(data=data, checkpoint=tiny_model_dir, num_images=4, batch_size=4,
                                           progress=False)
    first = evaluate_lib.evaluate(config, log=messages.append)
    second = evaluate_lib.evaluate(config, log=lambda _: None)
    assert _without_timings(first["rows"]) == _without_timings(second["rows"])
    model = first["rows"][0]
    assert model["images"] == 4 and model["Diff"] > 0
    for missing in ("Sim", "MP", "R-precision", "IS", "FID"):
        assert missing not in model
    text = "\n".join(messages)
    assert "Skipping Sim, MP and R-precision" in text and "python -m mimnet_tf.pretrain_damsm" in text
    assert "Skipping IS and FID" in text and inception.WEIGHTS_FILE_NAME in text and "--inception_weights" in text
    assert first["paths"] == ()  # no --out, nothing written
    assert "| MIM-Net 32 | - | - |" in evaluate_lib.format_rows(first["rows"])


def test_a_named_inception_file_must_be_the_weights(tmp_path):
    with pytest.raises(inception.InceptionWeightsMissing, match="--inception_weights"):
        evaluate_lib.load_inception(str(tmp_path / "missing.h5"))


def test_cli_needs_a_checkpoint():
    process = run_cli("mimnet_tf.evaluate")
    assert_one_line_error(process, "evaluate", "--checkpoint is required")


@pytest.mark.slow
def test_cli_accepts_the_training_flagfile(tiny_model_dir, tiny_damsm_dir, tmp_path):
    flagfile = tmp_path / "run.flags"
    flagfile.write_text("--max_steps=9\n--g_learning_rate=0.001\n--batch_size=4\n")  # training flags too
    process = run_cli("mimnet_tf.evaluate", f"--flagfile={flagfile}", f"--checkpoint={tiny_model_dir}",
                      f"--damsm_dir={tiny_damsm_dir}", f"--out={tmp_path}", "--noprogress")
    assert process.returncode == 0, process.stderr
    assert "| MIM-Net 32 |" in process.stdout and "| real images |" in process.stdout
    assert "Skipping IS and FID" in process.stderr
    with open(tmp_path / "evaluation.json", encoding="utf-8") as f:
        document = json.load(f)
    assert document["metadata"]["images"] == 8 and document["rows"][0]["Sim"] is not None
