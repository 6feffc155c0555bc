"""The training loop's mechanics on a toy model that follows MIMNet's contract (fast).

ToyGAN is two linear regressors standing in for the generator and the discriminator: it has
`compile(g_optimizer, d_optimizer)`, `train_step` returning losses averaged over the global
batch, `phases`, `step_counter`, `checkpoint_layers()`, so every test here runs the real loop
(checkpoints, resume, NaN guard, signals, phase functions, logs) in a second or two.
"""
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimnet_tf.config import TrainConfig
from mimnet_tf.training import hooks, loop, summaries
from mimnet_tf.training.strategy import make_strategy
from tests.training import harness

BATCH = 4


class ToyGAN(keras.Model):
    def __init__(self, count_steps: bool = True):
        super().__init__()
        self.generator = keras.layers.Dense(1, name="generator")
        self.discriminator = keras.layers.Dense(1, name="discriminator")
        self.generator.build((None, 3))
        self.discriminator.build((None, 3))
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.poison_step = tf.Variable(-1, dtype=tf.int64, trainable=False, name="poison_step")
        self.global_batch_size = None
        self.phases = ("g", "d")
        self.traced_phases = []
        self.count_steps = count_steps

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def checkpoint_layers(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def train_step(self, data):
        self.traced_phases.append(self.phases)  # runs once per trace
        results = {}
        for name, layer, optimizer in (("g", self.generator, self.g_optimizer),
                                       ("d", self.discriminator, self.d_optimizer)):
            if name not in self.phases:
                continue
            with tf.GradientTape() as tape:
                per_example = tf.square(layer(data["x"])[:, 0] - data["y"])
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)
            grads = tape.gradient(loss, layer.trainable_variables)
            optimizer.apply_gradients(zip(grads, layer.trainable_variables))
            results[f"{name}_total"] = loss
        if "d_total" in results:  # a loss forced to NaN at one step, as a diverging run would
            results["d_total"] = tf.where(self.step_counter + 1 == self.poison_step, np.nan, results["d_total"])
        if self.count_steps:
            self.step_counter.assign_add(1)
        return results


def toy_model(**kwargs) -> ToyGAN:
    keras.utils.set_random_seed(3)
    model = ToyGAN(**kwargs)
    model.compile(keras.optimizers.Adam(0.05), keras.optimizers.Adam(0.05))
    return model


def toy_dataset(start_step: int) -> tf.data.Dataset:
    """Global batches that depend only on the step: batch s holds examples 4s .. 4s + 3."""
    def example(index):
        f = tf.cast(index, tf.float32)
        x = tf.stack([tf.sin(f), tf.cos(f), f / 100.0])
        return {"x": x, "y": 2.0 * x[0] - x[1] + 0.5, "name": tf.strings.as_string(index)}

    return tf.data.Dataset.range(start_step * BATCH, 1 << 40).map(example).batch(BATCH, drop_remainder=True)


def train_config(model_dir, **overrides) -> TrainConfig:
    values = dict(model_dir=str(model_dir), max_steps=6, checkpoint_every=2, keep_checkpoints=10, log_every=3,
                  progress=False)
    values.update(overrides)
    return TrainConfig(**values)


def fit(model, config, extra_hooks=(), **trainee_options):
    trainee = loop.gan_trainee(model, toy_dataset, BATCH, 100, **trainee_options)
    return loop.fit(trainee, config, [*hooks.standard_hooks(config), *extra_hooks], log=lambda _: None)


def weights(model) -> list:
    return [v.numpy() for v in model.generator.weights + model.discriminator.weights
            + model.g_optimizer.variables + model.d_optimizer.variables]


def checkpoint_numbers(model_dir) -> list:
    files = os.listdir(os.path.join(model_dir, "checkpoints"))
    return sorted(int(f.split("-")[1].split(".")[0]) for f in files if f.endswith(".index"))


def checkpoint_bytes(model_dir) -> dict:
    folder = os.path.join(model_dir, "checkpoints")
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def test_trains_to_max_steps_with_checkpoints_and_logs(tmp_path):
    model = toy_model()
    summary = fit(model, train_config(tmp_path))
    assert (summary["start_step"], summary["step"], summary["steps_run"]) == (0, 6, 6)
    assert int(model.step_counter.numpy()) == 6
    assert checkpoint_numbers(tmp_path) == [2, 4, 6]
    assert summary["checkpoint"].endswith("ckpt-6")
    records = summaries.read_train_log(str(tmp_path))
    assert [r["step"] for r in records] == [3, 6]
    assert set(records[0]["losses"]) == {"g_total", "d_total"}
    assert records[1]["losses"]["g_total"] < records[0]["losses"]["g_total"]  # the regression learns
    assert records[1]["images_per_second"] > 0 and records[1]["learning_rates"] == {"g": 0.05, "d": 0.05}
    assert records[1]["losses"] == pytest.approx(summary["losses"])
    assert os.listdir(os.path.join(tmp_path, summaries.LOG_SUBDIR))  # TensorBoard events


def test_epochs_decide_the_length_without_max_steps(tmp_path):
    summary = loop.fit(loop.gan_trainee(toy_model(), toy_dataset, BATCH, steps_per_epoch=3),
                       train_config(tmp_path, max_steps=0, epochs=2, checkpoint_every=0), log=lambda _: None)
    assert summary["step"] == summary["total_steps"] == 6
    assert checkpoint_numbers(tmp_path) == [6]  # saved at the end
    assert loop.total_steps(train_config(tmp_path, max_steps=5, epochs=2), 3) == 5  # max_steps wins


def test_resume_with_new_objects_equals_uninterrupted_run(tmp_path):
    uninterrupted = toy_model()
    fit(uninterrupted, train_config(tmp_path / "a"))
    fit(toy_model(), train_config(tmp_path / "b", max_steps=3, checkpoint_every=3))
    resumed = toy_model()  # a "new process": fresh objects, state only from the checkpoint
    summary = fit(resumed, train_config(tmp_path / "b"))
    assert (summary["start_step"], summary["step"]) == (3, 6)
    for left, right in zip(weights(uninterrupted), weights(resumed), strict=True):
        np.testing.assert_array_equal(left, right)
    again = fit(resumed, train_config(tmp_path / "b"))  # already finished: nothing to do
    assert again["steps_run"] == 0 and checkpoint_numbers(tmp_path / "b") == [3, 4, 6]


def test_non_finite_loss_stops_without_saving(tmp_path):
    model = toy_model()
    fit(model, train_config(tmp_path, max_steps=2))
    before = checkpoint_bytes(tmp_path)
    model.poison_step.assign(3)
    with pytest.raises(loop.NonFiniteLossError) as raised:
        fit(model, train_config(tmp_path, max_steps=10))
    error = raised.value
    assert error.step == 3 and list(error.losses) == ["d_total"] and np.isnan(error.losses["d_total"])
    assert "d_total=nan" in str(error) and "step 3" in str(error) and "ckpt-2" in str(error)
    assert checkpoint_bytes(tmp_path) == before  # the last good checkpoint is untouched
    last = summaries.read_train_log(str(tmp_path))[-1]
    assert last["step"] == 3 and last["non_finite"] == ["d_total"] and last["losses"]["d_total"] == "nan"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_the_step_then_raises(tmp_path, signum):
    previous = signal.getsignal(signum)

    def send_signal(step, losses):
        if step == 3:
            os.kill(os.getpid(), signum)

    model = toy_model()
    with pytest.raises(loop.TrainingInterrupted) as raised:
        fit(model, train_config(tmp_path, checkpoint_every=0), extra_hooks=[hooks.OnStep(send_signal)])
    error = raised.value
    assert isinstance(error, KeyboardInterrupt)  # callers catching Ctrl-C still catch it
    assert (error.signum, error.step) == (signum, 3) and error.checkpoint.endswith("ckpt-3")
    assert checkpoint_numbers(tmp_path) == [3]
    assert signal.getsignal(signum) is previous
    resumed = fit(toy_model(), train_config(tmp_path, checkpoint_every=0))
    assert (resumed["start_step"], resumed["step"]) == (3, 6)


def test_phase_schedule_traces_each_phase_set_once(tmp_path):
    model = toy_model()
    steps = loop.StepFunctions(model, tf.distribute.get_strategy())
    fit(model, train_config(tmp_path, max_steps=5, log_every=1), step_functions=steps,
        phases=lambda step: ("g",) if step < 2 else ("g", "d"))
    assert model.traced_phases == [("g",), ("g", "d")]
    assert steps.traced == (("g",), ("g", "d"))
    records = summaries.read_train_log(str(tmp_path))
    assert [sorted(r["losses"]) for r in records] == [["g_total"]] * 2 + [["d_total", "g_total"]] * 3
    assert [r["phases"] for r in records] == [["g"]] * 2 + [["g", "d"]] * 3


def test_a_models_own_sample_images_are_logged(tmp_path):
    class SamplingGAN(ToyGAN):
        def sample_images(self, batch):  # the generic hook: {name: images in [0, 1]}
            column = tf.sigmoid(self.generator(batch["x"]))[:, :, None, None]
            return {"toy": tf.tile(column, [1, 8, 8, 3])}

    keras.utils.set_random_seed(3)
    model = SamplingGAN()
    model.compile(keras.optimizers.Adam(0.05), keras.optimizers.Adam(0.05))
    sample = next(iter(toy_dataset(0)))
    fit(model, train_config(tmp_path, image_log_every=2), sample_batch=sample)
    images = harness.event_tags(str(tmp_path))["samples/toy"]
    assert [step for step, _ in images] == [2, 4, 6]
    assert [int(v) for v in images[0][1][:2]] == [8, 8] and len(images[0][1]) == 2 + BATCH
    assert "samples/captions" not in harness.event_tags(str(tmp_path))  # the batch has none


def test_train_step_must_count_steps(tmp_path):
    with pytest.raises(RuntimeError, match="step_counter from 0 to 0"):
        fit(toy_model(count_steps=False), train_config(tmp_path))


def test_checkpoint_of_another_model_is_refused(tmp_path):
    fit(toy_model(), train_config(tmp_path, max_steps=2))
    other = ToyGAN()
    other.generator = keras.layers.Dense(1, name="generator")
    other.generator.build((None, 5))  # another input width: another kernel shape
    other.compile(keras.optimizers.Adam(0.05), keras.optimizers.Adam(0.05))
    with pytest.raises(loop.CheckpointMismatchError, match="does not fit this model"):
        fit(other, train_config(tmp_path))


def test_replicas_get_their_rows_of_each_global_batch():
    strategy = make_strategy("mirrored", ["/cpu:0", "/cpu:1"])
    dataset = loop.distribute_batches(strategy, toy_dataset, start_step=5, global_batch_size=BATCH)
    iterator = iter(dataset)
    for step in (5, 6):
        batch = next(iterator)
        assert "name" not in batch  # strings stay on the host
        rows = [np.round(r.numpy()[:, 2] * 100).astype(int).tolist() for r in
                strategy.experimental_local_results(batch["x"])]
        assert rows == [[4 * step, 4 * step + 1], [4 * step + 2, 4 * step + 3]]
    with pytest.raises(ValueError, match="multiple of the 2 replicas"):
        loop.distribute_batches(strategy, toy_dataset, 0, global_batch_size=3)
