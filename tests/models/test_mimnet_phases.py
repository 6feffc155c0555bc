"""MIM-Net's two training phases do what the paper says (design: /work/shared/design/mimnet.md).

- A reconstruction step (Eq. 14-16) changes the memory and the generator, never the
  discriminators.
- An adversarial step (Eq. 17-19) leaves the memory unchanged while the generator and both
  discriminators change.
- Every loss term has a nonzero gradient to the variables it is meant to train (and none where
  the design says it must not reach).
- The losses a step reports equal the equations evaluated by hand on the same tiny batch.
- The ablation switches build and train; one seed gives bit-identical weights after a step.

A tiny MIM-Net (32 px, features at 8x8, 4 memories, batch 2) and a synthetic batch in the
layout `pipeline.make_dataset` yields; steps run eagerly.
"""
import contextlib
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf import config as config_lib, losses, testing
from mimnet_tf.apps import train_lib
from mimnet_tf.config import LossWeights
from mimnet_tf.data import pipeline
from mimnet_tf.layers.memory_bank import memory_variables
from mimnet_tf.models import mimnet as mimnet_lib
from mimnet_tf.models.mimnet import ADVERSARIAL, RECONSTRUCTION, MIMNet

VOCAB_SIZE = 10
MAX_WORDS = 6
BATCH = 2
SIZE = 32


def make_model(seed: int = 0, model=None, loss=None, train=None) -> MIMNet:
    """A compiled tiny MIMNet (mimnet_tf.testing sizes) with the optimizers `mimnet_tf.train` makes."""
    base = testing.tiny_run_config("", "", image_size=SIZE)
    model_config = dataclasses.replace(base.model, vocab_size=VOCAB_SIZE, max_words=MAX_WORDS, **(model or {}))
    loss_weights = dataclasses.replace(LossWeights(), **(loss or {}))
    train_config = config_lib.replace_flags(base.train, g_learning_rate=1e-3, d_learning_rate=1e-3, **(train or {}))
    keras.utils.set_random_seed(seed)
    net = MIMNet(model_config, loss_weights, train_config, name="mimnet")
    schedules = train_lib.learning_rate_schedules(train_config, 10)
    g_optimizer, d_optimizer = train_lib.make_optimizers(train_config, schedules, net.step_counter)
    net.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
    return net


def synthetic_batch(seed: int = 0) -> dict:
    """A batch in `pipeline.make_dataset`'s layout: smooth colour images in [-1, 1], two captions
    of 4 and 3 words (right-padded with 0) and each one's mismatched caption (another image's)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, size=(BATCH, 4, 4, 3)).astype("float32")
    image = tf.image.resize(coarse, (SIZE, SIZE), method="bilinear").numpy()
    image = np.clip(image + rng.normal(0, 0.05, image.shape), -1, 1).astype("float32")
    tokens = np.array([[2, 3, 4, 5, 0, 0], [2, 6, 7, 0, 0, 0]], "int32")
    mismatched = np.array([[2, 8, 9, 0, 0, 0], [2, 3, 9, 5, 0, 0]], "int32")
    return {
        "image": tf.constant(image),
        "token_ids": tf.constant(tokens),
        "mismatched_token_ids": tf.constant(mismatched),
        "caption": tf.constant(["a b c d", "a e f"]),
        "mismatched_caption": tf.constant(["a g h", "a b h d"]),
        "key": tf.constant(["train/0000", "train/0001"]),
        "label": tf.constant([0, 1], tf.int64),
    }


@pytest.fixture(scope="module")
def model():
    """One tiny MIMNet shared by the phase tests (each test snapshots what it compares)."""
    return make_model()


@pytest.fixture(scope="module")
def batch():
    return synthetic_batch()


@contextlib.contextmanager
def switched(net: MIMNet, phases, loss=None, train=None):
    """Runs `net` with other phases / loss weights / train switches, then restores them."""
    saved = (net.phases, net.loss_weights, net.train_config)
    net.phases = phases
    net.loss_weights = dataclasses.replace(net.loss_weights, **(loss or {}))
    net.train_config = config_lib.replace_flags(net.train_config, **(train or {}))
    try:
        yield net
    finally:
        net.phases, net.loss_weights, net.train_config = saved


def snapshot(variables) -> list:
    return [np.array(v.numpy()) for v in variables]


def changed(before, variables) -> list:
    """Per variable: did any entry change?"""
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def groups(net: MIMNet) -> dict:
    g = net.generator
    memory = memory_variables(g)
    memory_ids = {id(v) for v in memory}
    text_ids = {id(v) for v in g.text_encoder.trainable_variables}
    return {
        "memory": memory,
        "generator": [v for v in g.trainable_variables if id(v) not in memory_ids | text_ids],
        "text_encoder": g.text_encoder.trainable_variables,
        "discriminators": net.discriminator_variables(),
    }


# ----------------------------------------------------------------------------- the batch layout
def test_the_synthetic_batch_has_the_pipeline_layout(tmp_path):
    """Keys, dtypes and ranks of the synthetic batch are those `pipeline.make_dataset` yields, so
    the phase tests feed train_step what training feeds it."""
    prepared = testing.write_tiny_prepared(str(tmp_path), num_train=4, num_test=2, size=16)
    config = dataclasses.replace(testing.tiny_run_config(prepared, image_size=16).data, batch_size=BATCH,
                                 max_words=MAX_WORDS)
    spec = pipeline.make_dataset(config).element_spec
    ours = synthetic_batch()
    assert sorted(spec) == sorted(ours)
    for key, value in ours.items():
        assert spec[key].dtype == value.dtype, key
        assert spec[key].shape.rank == value.shape.rank, key
    assert spec["token_ids"].shape[1] == MAX_WORDS


# ----------------------------------------------------------------------------- which variables a phase moves
def test_reconstruction_step_changes_memory_and_generator_not_discriminators(model, batch):
    """Eq. 14-16 update the generator with the memory (the only phase that may), and no
    discriminator variable moves, although L_rmt reads the discriminators."""
    parts = groups(model)
    before = {name: snapshot(vs) for name, vs in parts.items()}
    with switched(model, (RECONSTRUCTION,)):
        results = model.train_step(batch)
    assert all(changed(before["memory"], parts["memory"])), "memories and W_k both train"
    generator_changed = changed(before["generator"], parts["generator"])
    assert sum(generator_changed) > len(generator_changed) // 2
    changed_ids = {id(v) for v, c in zip(parts["generator"], generator_changed) if c}
    for layer in (model.generator.fir.decoder, model.generator.icm.decoder, model.generator.icm.tlu,
                  model.generator.image_encoder, model.generator.boundary_encoder):
        assert any(id(v) in changed_ids for v in layer.trainable_variables), layer.name
    assert not any(changed(before["discriminators"], parts["discriminators"]))
    assert not any(changed(before["text_encoder"], parts["text_encoder"]))  # frozen (DAMSM-pretrained)
    assert {"reconstruction", "pseudo_gt", "randomised_memory", "recon_total"} <= set(results)
    assert "d_total" not in results and "g_total" not in results
    assert all(np.isfinite(float(v)) for v in results.values())


def test_adversarial_step_freezes_memory_and_moves_generator_and_discriminators(model, batch):
    """Eq. 17-19 with mismatched captions: both discriminators (trunk and every head) and the
    generator change, the memory does not."""
    parts = groups(model)
    before = {name: snapshot(vs) for name, vs in parts.items()}
    with switched(model, (ADVERSARIAL,)):
        results = model.train_step(batch)
    assert not any(changed(before["memory"], parts["memory"]))
    assert not any(changed(before["text_encoder"], parts["text_encoder"]))  # frozen (DAMSM-pretrained)
    assert sum(changed(before["generator"], parts["generator"])) > len(parts["generator"]) // 2
    moved_ids = {id(v) for v, c in zip(parts["discriminators"],
                                       changed(before["discriminators"], parts["discriminators"])) if c}
    for stage, discriminator in model.discriminators.items():
        own = discriminator.trainable_variables
        assert sum(id(v) in moved_ids for v in own) > len(own) * 3 // 4, stage
        for head in (discriminator.stem, discriminator.reality, discriminator.level_mix, *discriminator.word_weights):
            assert any(id(v) in moved_ids for v in head.trainable_variables), (stage, head.name)
    assert {"d_total", "d_reality", "d_conformity", "g_reality", "g_conformity", "g_total"} <= set(results)
    assert "reconstruction" not in results


# ----------------------------------------------------------------------------- gradients of each loss term
def _nonzero(tape, loss, variables) -> dict:
    """{id(variable): has a nonzero gradient} for `variables`."""
    grads = tape.gradient(loss, variables)
    return {id(v): g is not None and bool(np.any(np.asarray(g) != 0)) for v, g in zip(variables, grads)}


def _reached(flags, layer_or_variables) -> bool:
    variables = getattr(layer_or_variables, "trainable_variables", layer_or_variables)
    return any(flags[id(v)] for v in variables)


def test_every_loss_term_reaches_what_it_trains(model, batch):
    """Each term's gradient is nonzero on the variables it is meant to train, and absent where the
    design says it must not reach:
    - L_rec (Eq. 14): memory, image and boundary encoders, ICM (TLU included) and FIR;
    - L_pgt (Eq. 15): the TLU, W_g and the memory, not the image encoder (its features are the target);
    - L_rmt (Eq. 16, random attention given): the memory contents and both decoders, not W_k (the
      random weights replace Eq. 2), and no discriminator variable is updated by it;
    - D reality and conformity (Eq. 17): each discriminator's trunk and its own head;
    - G reality and conformity (Eq. 18-19): the generator's decoders through both discriminators."""
    g = model.generator
    image = batch["image"]
    text = g.encode_text(batch["token_ids"])
    mismatched = g.encode_text(batch["mismatched_token_ids"])
    gen_variables = model.generator_variables(include_memory=True)
    d_variables = model.discriminator_variables()
    memory = g.memory
    icm, fir = g.icm, g.fir

    with tf.GradientTape(persistent=True) as tape:
        out = g.manipulate(image, text["words"], text["mask"])
        rec = tf.reduce_mean(losses.reconstruction_loss(out, image))
        pgt = tf.reduce_mean(losses.pseudo_ground_truth_loss(out["localisation_map"], out["image_features"],
                                                             out["texture_global"]))
        attention = losses.random_memory_weights(tf.constant([1, 2]), BATCH, MAX_WORDS, memory.memory_size, 0.1)
        random_out = g.manipulate(image, text["words"], text["mask"], memory_attention=attention)
        rmt = 0.0
        for stage, (_, fake) in model._stage_images(image, random_out).items():
            d = model.discriminators[stage]
            rmt += tf.reduce_mean(losses.real_loss(d.reality_logit(d.image_features(fake))))
    flags = {name: _nonzero(tape, loss, gen_variables + d_variables) for name, loss in
             (("rec", rec), ("pgt", pgt), ("rmt", rmt))}
    del tape

    for part in (memory.memories, memory.key_projection):
        assert flags["rec"][id(part)], part.path
    for layer in (g.image_encoder, g.boundary_encoder, icm.global_projection, icm.tlu, icm.decoder, *icm.ups,
                  fir.attention, fir.decoder, fir.up):
        assert _reached(flags["rec"], layer), ("L_rec", layer.name)

    for variable in (icm.tlu.query.kernel, icm.tlu.bias, memory.memories, memory.key_projection):
        assert flags["pgt"][id(variable)], ("L_pgt", variable.path)
    assert _reached(flags["pgt"], icm.global_projection)
    assert not _reached(flags["pgt"], g.image_encoder)
    assert not _reached(flags["pgt"], fir) and not _reached(flags["pgt"], icm.decoder)

    assert flags["rmt"][id(memory.memories)]
    assert not flags["rmt"][id(memory.key_projection)]
    assert _reached(flags["rmt"], fir.decoder) and _reached(flags["rmt"], icm.decoder)
    # The discriminators are only read by L_rmt; the reconstruction phase applies no gradient to them.
    assert not ({id(v) for v in d_variables} & {id(v) for v in model.generator_variables(include_memory=True)})

    # Eq. 17, per stage, with fakes from the mismatched captions (stop-gradient as in the step).
    fake_out = g.manipulate(image, mismatched["words"], mismatched["mask"])
    stage_images = model._stage_images(image, fake_out)
    with tf.GradientTape(persistent=True) as tape:
        d_reality, d_conformity = 0.0, 0.0
        for stage, (real, fake) in stage_images.items():
            d = model.discriminators[stage]
            real_pooled, fake_pooled = d.image_features(real), d.image_features(tf.stop_gradient(fake))
            d_reality += tf.reduce_mean(losses.discriminator_reality_loss(d.reality_logit(real_pooled),
                                                                          d.reality_logit(fake_pooled)))
            d_conformity += tf.reduce_mean(losses.discriminator_conformity_loss(
                d.conformity(real_pooled, text["words"], text["mask"])["log_conformity"],
                d.conformity(real_pooled, mismatched["words"], mismatched["mask"])["log_conformity"]))
    d_flags = {"reality": _nonzero(tape, d_reality, d_variables),
               "conformity": _nonzero(tape, d_conformity, d_variables)}
    del tape
    for d in model.discriminators.values():
        assert _reached(d_flags["reality"], d.stem) and _reached(d_flags["reality"], d.reality)
        assert not _reached(d_flags["reality"], d.level_mix)
        assert _reached(d_flags["conformity"], d.stem) and not _reached(d_flags["conformity"], d.reality)
        for head in (d.level_mix, *d.word_weights, *d.word_bias):
            assert _reached(d_flags["conformity"], head), (d.name, head.name)

    # Eq. 18-19: the generator against the discriminators, mismatched captions.
    g_variables = model.generator_variables(include_memory=False)
    with tf.GradientTape(persistent=True) as tape:
        fake_out = g.manipulate(image, mismatched["words"], mismatched["mask"])
        g_reality, g_conformity = 0.0, 0.0
        for stage, (_, fake) in model._stage_images(image, fake_out).items():
            d = model.discriminators[stage]
            pooled = d.image_features(fake)
            g_reality += tf.reduce_mean(losses.real_loss(d.reality_logit(pooled)))
            g_conformity += tf.reduce_mean(losses.generator_conformity_loss(
                d.conformity(pooled, mismatched["words"], mismatched["mask"])["log_conformity"]))
    g_flags = {"reality": _nonzero(tape, g_reality, g_variables),
               "conformity": _nonzero(tape, g_conformity, g_variables)}
    del tape
    for term, term_flags in g_flags.items():
        for layer in (fir.decoder, icm.decoder, icm.tlu, g.image_encoder):
            assert _reached(term_flags, layer), (term, layer.name)


# ----------------------------------------------------------------------------- losses by hand
def _down(image, size):
    b, s = image.shape[0], image.shape[1]
    f = s // size
    return image.reshape(b, size, f, size, f, 3).mean(axis=(2, 4))


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def test_reconstruction_losses_reported_by_a_step_match_the_equations(batch):
    """A reconstruction step reports L_rec = |I_1 - down(I)| + |I_2 - I|, L_pgt = mean_c |(1/HW)
    sum A F_I - t| and L_rmt = sum_stage -log D_r(G(I, alpha~)) (alpha~ the stateless draw of
    (seed, step)), each averaged over the batch, all recomputed here in numpy from the outputs
    of the pre-step model."""
    net = make_model(seed=3, loss={"rmt_concentration": 0.2})
    net.phases = (RECONSTRUCTION,)
    g = net.generator
    image = batch["image"].numpy().astype(np.float64)
    text = g.encode_text(batch["token_ids"])
    out = {k: np.asarray(v, np.float64) for k, v in g.manipulate(batch["image"], text["words"], text["mask"]).items()
           if v is not None}
    seed = tf.constant([net.train_config.seed * 16 + mimnet_lib._MEMORY_STREAM, 0], tf.int32)
    attention = losses.random_memory_weights(seed, BATCH, MAX_WORDS, g.memory.memory_size, 0.2)
    random_out = g.manipulate(batch["image"], text["words"], text["mask"], memory_attention=attention)
    rmt = sum(_softplus(-np.asarray(d.reality_logit(d.image_features(fake)), np.float64))
              for d, fake in ((net.discriminators["coarse"], random_out["coarse"]),
                              (net.discriminators["fine"], random_out["fine"])))
    results = net.train_step(batch)

    rec = (np.abs(out["coarse"] - _down(image, SIZE // 2)).mean(axis=(1, 2, 3))
           + np.abs(out["fine"] - image).mean(axis=(1, 2, 3)))
    a, features = out["localisation_map"], out["image_features"]
    pooled = (a * features).sum(axis=(1, 2)) / (a.shape[1] * a.shape[2])
    pgt = np.abs(pooled - out["texture_global"]).mean(-1)
    np.testing.assert_allclose(float(results["reconstruction"]), rec.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["pseudo_gt"]), pgt.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["randomised_memory"]), rmt.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["recon_total"]), rec.mean() + pgt.mean() + rmt.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["tlu_mean"]), a.mean(), rtol=1e-4)


def test_adversarial_losses_reported_by_a_step_match_the_equations(batch):
    """An adversarial step reports Eq. 17 with the pre-step discriminators on (I, T) / (G(I, T'),
    T') and Eq. 18-19 with the updated discriminators on the same fakes, recomputed here from the
    discriminators' logits with numpy's log-sigmoids."""
    net = make_model(seed=4)
    net.phases = (ADVERSARIAL,)
    g = net.generator
    image = batch["image"]
    text = g.encode_text(batch["token_ids"])
    mismatched = g.encode_text(batch["mismatched_token_ids"])
    fake_out = g.manipulate(image, mismatched["words"], mismatched["mask"])
    stages = net._stage_images(image, fake_out)

    def d_terms():
        terms = {"real": 0, "fake": 0, "fake_as_real": 0, "matched": 0, "unmatched": 0, "g_conformity": 0}
        for stage, (real, fake) in stages.items():
            d = net.discriminators[stage]
            rp, fp = d.image_features(real), d.image_features(fake)
            terms["real"] += _softplus(-np.asarray(d.reality_logit(rp), np.float64))
            terms["fake"] += _softplus(np.asarray(d.reality_logit(fp), np.float64))
            terms["fake_as_real"] += _softplus(-np.asarray(d.reality_logit(fp), np.float64))
            matched = np.asarray(d.conformity(rp, text["words"], text["mask"])["log_conformity"], np.float64)
            unmatched = np.asarray(d.conformity(rp, mismatched["words"], mismatched["mask"])["log_conformity"],
                                   np.float64)
            terms["matched"] += -matched
            terms["unmatched"] += -np.log(-np.expm1(unmatched))
            terms["g_conformity"] += -np.asarray(
                d.conformity(fp, mismatched["words"], mismatched["mask"])["log_conformity"], np.float64)
        return terms

    before = d_terms()
    results = net.train_step(batch)
    after = d_terms()
    np.testing.assert_allclose(float(results["d_reality"]), (before["real"] + before["fake"]).mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["d_conformity"]), (before["matched"] + before["unmatched"]).mean(),
                               rtol=1e-4)
    np.testing.assert_allclose(float(results["d_total"]), float(results["d_reality"]) + float(results["d_conformity"]),
                               rtol=1e-5)
    np.testing.assert_allclose(float(results["g_reality"]), after["fake_as_real"].mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["g_conformity"]), after["g_conformity"].mean(), rtol=1e-4)
    np.testing.assert_allclose(float(results["g_total"]), float(results["g_reality"]) + float(results["g_conformity"]),
                               rtol=1e-5)
    # The generator step used the updated discriminators: their logits moved.
    assert not np.allclose(before["fake_as_real"], after["fake_as_real"])


# ----------------------------------------------------------------------------- ablations and switches
@pytest.mark.parametrize("overrides", [
    {"model": {"use_memory": False}},
    {"model": {"use_tlu": False}},
], ids=["no_memory", "no_tlu"])
def test_architecture_ablations_build_and_train(overrides, batch):
    """"w/o memory" (t_j from the words) and "w/o TLU" (A = 1) build and run a full step (both
    phases) with finite losses; without memory there is no memory variable and no L_rmt, without
    the TLU the map is all ones and the TLU's variables get no update."""
    net = make_model(seed=5, **overrides)
    tlu_before = snapshot(net.generator.icm.tlu.trainable_variables)
    results = net.train_step(batch)
    assert all(np.isfinite(float(v)) for v in results.values())
    assert float(results["g_total"]) > 0 and float(results["reconstruction"]) > 0
    if not net.model_config.use_memory:
        assert memory_variables(net.generator) == []
        assert float(results["randomised_memory"]) == 0.0
    if not net.model_config.use_tlu:
        assert float(results["tlu_mean"]) == 1.0
        assert not any(changed(tlu_before, net.generator.icm.tlu.trainable_variables))


def test_loss_weight_ablations_drop_their_terms(model, batch):
    """"w/o L_pgt, L_rmt" (pseudo_gt = randomised_memory = 0): the reconstruction total is L_rec
    alone and no L_rmt is computed; with every adversarial weight also 0 the discriminators are not
    trained at all."""
    with switched(model, (RECONSTRUCTION, ADVERSARIAL), loss={"pseudo_gt": 0.0, "randomised_memory": 0.0}):
        results = model.train_step(batch)
        assert float(results["randomised_memory"]) == 0.0
        np.testing.assert_allclose(float(results["recon_total"]), float(results["reconstruction"]), rtol=1e-6)
        assert float(results["pseudo_gt"]) > 0  # still reported, just not trained on
    d_variables = model.discriminator_variables()
    before = snapshot(d_variables)
    with switched(model, (ADVERSARIAL,), loss={"reality": 0.0, "conformity": 0.0, "randomised_memory": 0.0}):
        assert not model.uses_discriminators
        results = model.train_step(batch)
    assert not any(changed(before, d_variables))
    assert float(results["g_total"]) == 0.0


@pytest.mark.parametrize("train", [
    {"colour_swap": 1.0, "colour_swap_weight": 5.0},
    {"colour_swap": 1.0, "colour_swap_weight": 5.0, "colour_swap_colours": "batch", "colour_swap_candidates": 4},
    {"colour_swap": 1.0, "colour_swap_weight": 5.0, "colour_swap_candidates": 4, "colour_swap_unmix_edges": True,
     "colour_swap_shading": "multiplicative", "colour_swap_area_reference": 0.5},
], ids=["colour_swap", "colour_swap_batch_candidates", "colour_swap_unmix_multiplicative_area"])
def test_colour_switches_train_and_drop_the_pseudo_ground_truth(model, batch, train):
    """Colour swap (models/recolour.py via MIMNet._colour_swap) runs a reconstruction step; with
    probability 1 every example's input is repainted, so its image features are no pseudo ground
    truth and L_pgt is 0, while L_rec is not."""
    with switched(model, (RECONSTRUCTION,), train=train):
        source, target, swapped, weights, repainted = model._colour_swap(batch["image"], BATCH)
        assert target is batch["image"]  # no decoys: the original is the target
        np.testing.assert_array_equal(swapped, 1.0)
        assert np.max(np.abs(np.asarray(source) - batch["image"].numpy())) > 0.05
        assert weights is not None and float(np.min(weights)) == 1.0
        # weight 5 on repainted pixels, more on small regions with an area reference
        top = 1.0 + 4.0 * float(np.max(repainted))
        np.testing.assert_allclose(float(np.max(weights)), top, rtol=1e-6)
        assert (top > 5.0) == ("colour_swap_area_reference" in train)
        results = model.train_step(batch)
    assert float(results["pseudo_gt"]) == 0.0
    assert float(results["reconstruction"]) > 0.0
    assert all(np.isfinite(float(v)) for v in results.values())


def test_colour_swap_flags_reach_the_recolouring(model, batch, monkeypatch):
    """Every --colour_swap_* setting is passed to models/recolour.py as given."""
    seen = {}
    real = mimnet_lib.recolour.recolour_regions

    def spy(images, draws, threshold, centre, **kwargs):
        seen.update(threshold=threshold, centre=centre, **kwargs)
        return real(images, draws, threshold, centre, **kwargs)

    monkeypatch.setattr(mimnet_lib.recolour, "recolour_regions", spy)
    train = {"colour_swap": 1.0, "colour_swap_threshold": 0.3, "colour_swap_centre": 0.7,
             "colour_swap_candidates": 3, "colour_swap_min_area": 0.0005, "colour_swap_max_area": 0.1,
             "colour_swap_area_reference": 0.025, "colour_swap_unmix_edges": True,
             "colour_swap_colours": "batch", "colour_swap_shading": "multiplicative"}
    with switched(model, (RECONSTRUCTION,), train=train):
        model._colour_swap(batch["image"], BATCH)
    assert seen == {"threshold": 0.3, "centre": 0.7, "candidates": 3, "min_area": 0.0005, "max_area": 0.1,
                    "area_reference": 0.025, "unmix_edges": True, "colours": "batch", "shading": "multiplicative",
                    "palette": None, "described": None}


# Token ids of captions for the described-colour tests: "a bird" and one naming every colour.
_WORDS = ["<pad>", "<unk>", "a", "bird", "red", "green", "blue", "yellow", "black", "white"]
_SILENT = [[2, 3, 0, 0, 0, 0]] * BATCH
_EVERY_COLOUR = [[4, 5, 6, 7, 8, 9]] * BATCH


@contextlib.contextmanager
def described_colours(net: MIMNet, **train):
    """`net` reading the colour words of _WORDS (xkcd names), with colour swap and `train` switched on."""
    from mimnet_tf.models.colour_names import vocabulary_colours

    saved = net.colour_words
    net.colour_words = vocabulary_colours("xkcd", _WORDS)
    switches = {"colour_swap": 1.0, "colour_swap_candidates": 4, "colour_swap_described": "xkcd",
                "colour_swap_min_area": 0.0, **train}
    try:
        with switched(net, (RECONSTRUCTION,), train=switches):
            yield net
    finally:
        net.colour_words = saved


def test_described_colour_swap_repaints_only_regions_of_colours_the_caption_names(model, batch):
    """--colour_swap_described: a caption with no colour word gets no repainted region (so a part
    the text does not name is never taught to change); one naming every colour trains as before."""
    with described_colours(model):
        source, _, _, _, repainted = model._colour_swap(batch["image"], BATCH, tf.constant(_SILENT))
        np.testing.assert_array_equal(source.numpy(), batch["image"].numpy())
        assert float(tf.reduce_max(repainted)) == 0.0
        source, _, _, _, repainted = model._colour_swap(batch["image"], BATCH, tf.constant(_EVERY_COLOUR))
        assert float(tf.reduce_max(repainted)) > 0.0
        results = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in results.values())


def test_decoys_repaint_undescribed_regions_in_the_input_and_the_target_alike(model, batch):
    """--colour_swap_decoys: regions of colours the caption does not name are repainted in the input
    and in the target, so the generator learns to keep a region that looks repainted unless the
    caption names it; a caption naming every colour leaves no decoy, and the step trains."""
    image = batch["image"].numpy()
    with described_colours(model, colour_swap_decoys=2, colour_swap_weight=5.0):
        # "a bird": every region is a decoy
        source, target, _, weights, repainted = model._colour_swap(batch["image"], BATCH, tf.constant(_SILENT))
        assert np.max(np.abs(target.numpy() - image)) > 0.05
        np.testing.assert_array_equal(source.numpy(), target.numpy())  # nothing left to fix
        assert float(tf.reduce_max(repainted)) == 0.0
        assert float(tf.reduce_max(weights)) > 1.0  # decoy pixels weigh like repainted ones
        source, target, _, _, repainted = model._colour_swap(batch["image"], BATCH, tf.constant(_EVERY_COLOUR))
        np.testing.assert_array_equal(target.numpy(), image)
        assert float(tf.reduce_max(repainted)) > 0.0
        results = model.train_step(batch)
    assert all(np.isfinite(float(v)) for v in results.values())


def test_swap_localisation_teaches_the_tlu_where_the_input_was_repainted(model, batch):
    """--swap_localisation adds BCE(A, repainted map) to L_rec on repainted inputs (not in the
    paper): reported, part of recon_total, and its gradient reaches the TLU."""
    train = {"colour_swap": 1.0, "colour_swap_candidates": 4}
    loss = {"swap_localisation": 2.0, "pseudo_gt": 0.0, "randomised_memory": 0.0}
    with switched(model, (RECONSTRUCTION,), train=train, loss=loss):
        results = model.train_step(batch)
        assert float(results["swap_localisation"]) > 0.0
        np.testing.assert_allclose(float(results["recon_total"]),
                                   float(results["reconstruction"]) + 2.0 * float(results["swap_localisation"]),
                                   rtol=1e-5)
        source, _, swapped, _, repainted = model._colour_swap(batch["image"], BATCH)
        with tf.GradientTape() as tape:
            text = model.generator.encode_text(batch["token_ids"])
            outputs = model.generator.manipulate(source, text["words"], text["mask"])
            loss = tf.reduce_mean(losses.swap_localisation_loss(outputs["localisation_logits"], repainted))
        grads = tape.gradient(loss, model.generator.icm.tlu.trainable_variables)
        assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    options = {"swap_localisation": 2.0, "pseudo_gt": 0.0, "randomised_memory": 0.0,
               "swap_localisation_pool": "max", "swap_localisation_balance": True}
    with switched(model, (RECONSTRUCTION,), train={**train, "colour_swap_area_reference": 0.5}, loss=options):
        source, _, _, _, repainted = model._colour_swap(batch["image"], BATCH)  # the draws train_step makes next
        text = model.generator.encode_text(batch["token_ids"])
        logits = model.generator.manipulate(source, text["words"], text["mask"])["localisation_logits"]
        expected = {options: float(tf.reduce_mean(losses.swap_localisation_loss(logits, repainted, *options)))
                    for options in (("max", True), ("area", False))}
        reported = float(model.train_step(batch)["swap_localisation"])
        np.testing.assert_allclose(reported, expected[("max", True)], rtol=1e-4)
        assert abs(reported - expected[("area", False)]) > 1e-3  # the options reach the loss
    with switched(model, (RECONSTRUCTION,), loss={"pseudo_gt": 0.0}):
        assert float(model.train_step(batch)["swap_localisation"]) == 0.0  # off by default
    with pytest.raises(ValueError, match="swap_localisation > 0 needs the TLU"):  # A = 1 has no logits
        make_model(model={"use_tlu": False}, loss={"swap_localisation": 1.0})


# ----------------------------------------------------------------------------- text encoder, reproducibility
def test_an_unfrozen_text_encoder_trains_with_the_generator(batch):
    """Without a pretrained DAMSM the builder unfreezes the text encoder ("trains from scratch with
    the generator"): then a reconstruction step and an adversarial step both update it."""
    net = make_model(seed=6, model={"freeze_text_encoder": False})
    variables = net.generator.text_encoder.trainable_variables
    assert all(any(v is w for w in net.generator_variables()) for v in variables)
    for phases in ((RECONSTRUCTION,), (ADVERSARIAL,)):
        before = snapshot(variables)
        net.phases = phases
        net.train_step(batch)
        assert any(changed(before, variables)), phases


def test_one_seed_gives_identical_weights_after_a_step(batch):
    """Two models built and stepped with the same seed (both phases, random memory draws and
    colour swap included) hold bit-identical weights; another seed does not."""
    options = {"loss": {"rmt_concentration": 0.5}, "train": {"colour_swap": 0.5}}
    first, second = make_model(seed=7, **options), make_model(seed=7, **options)
    results = [first.train_step(batch), second.train_step(batch)]
    assert {k: float(v) for k, v in results[0].items()} == {k: float(v) for k, v in results[1].items()}
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    other = make_model(seed=8, **options)
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.weights, other.weights))
