"""A MirrorGAN model directory through the three exporters: TFLite (builtin ops, fp32/fp16/dynamic/int8),
ONNX and the SavedModel, each compared with the Keras generator on the same token ids and noise."""
import json
import os

import numpy as np
import pytest

from mimnet_tf.config import ExportConfig
from mimnet_tf.export import common, generate_common, onnx, saved_model, tflite, verify
from mimnet_tf.export.generate_signature import GENERATE, GENERATE_TENSORS, GENERATED_IMAGE
from mimnet_tf.inference.exported_model import LiteRTModel
from mimnet_tf.testing import MIRRORGAN_OVERRIDES, make_model_dir, write_tiny_prepared

pytestmark = pytest.mark.slow

INPUTS = ["condition_noise", "noise", "token_ids"]
PSNR_TARGETS = {"fp32": 100.0, "fp16": 60.0, "dynamic": 40.0, "int8": 35.0}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny MirrorGAN model directory (config.json, vocab.txt, checkpoints/), untrained: parity needs
    only weights."""
    root = tmp_path_factory.mktemp("mirrorgan")
    prepared = write_tiny_prepared(str(root / "prepared"), size=32)
    make_model_dir(str(root / "model"), prepared, image_size=32, train_steps=0, **MIRRORGAN_OVERRIDES)
    return str(root / "model")


@pytest.fixture(scope="module")
def trained(model_dir):
    return common.load_checkpoint(model_dir)


@pytest.fixture(scope="module")
def inputs(trained):
    """Two test captions, each with its own noise: a batch of 2 and its single rows."""
    examples = generate_common.generation_examples(trained, 2)
    return common.group(examples, 2)[0]


def _keras(trained, batch):
    outputs = trained.generator({name: batch[name] for name in generate_common.INPUTS}, training=False)
    return np.asarray(outputs["image"], np.float32)


def _row(batch, index):
    return {name: value[index:index + 1] for name, value in batch.items()}


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def tflite_dir(model_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tflite"))
    tflite.main(ExportConfig(checkpoint=model_dir, out=out, variants=tflite.VARIANTS, representative_samples=8,
                             check_examples=4))
    return out


def test_the_tflite_variants_are_written_with_their_contract(tflite_dir, trained):
    files = sorted(os.listdir(tflite_dir))
    assert files == sorted([f"mirrorgan_{v}.{ext}" for v in tflite.VARIANTS for ext in ("tflite", "json")]
                           + ["mirrorgan_int8_sensitivity.csv", "vocab.txt"])
    generator, model = trained.generator, trained.config.model
    for variant in tflite.VARIANTS:
        meta = _read(os.path.join(tflite_dir, f"mirrorgan_{variant}.json"))
        assert (meta["model"], meta["variant"], meta["image_size"]) == ("mirrorgan", variant, 32)
        assert [(t["name"], t["shape"], t["dtype"]) for t in meta["inputs"]] == [
            ("token_ids", [1, model.max_words], "int32"), ("noise", [1, generator.noise_dim], "float32"),
            ("condition_noise", [1, generator.condition_dim], "float32")]
        assert meta["outputs"] == [{"name": "generated_image", "shape": [1, 32, 32, 3], "dtype": "float32"}]
        checks = meta["checks"]  # the exporter's own check, on training captions
        assert checks["passed"] and checks["psnr_inputs"] == "4 training captions"


@pytest.mark.parametrize("variant", tflite.VARIANTS)
def test_each_tflite_variant_has_builtin_ops_static_shapes_and_generates_like_keras(tflite_dir, trained, inputs,
                                                                                    variant):
    model = LiteRTModel(os.path.join(tflite_dir, f"mirrorgan_{variant}.tflite"))
    interpreter = model.interpreter
    signature = interpreter.get_signature_list()["serving_default"]
    assert sorted(signature["inputs"]) == INPUTS and signature["outputs"] == [GENERATED_IMAGE]
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    details = model.runner.get_input_details()
    assert all(-1 not in d["shape_signature"].tolist() for d in details.values())

    generated = np.concatenate([model.run_inputs(**_row(inputs, i))[GENERATED_IMAGE] for i in range(2)])
    reference = _keras(trained, inputs)
    assert generated.shape == reference.shape == (2, 32, 32, 3)
    assert common.unit_psnr(reference, generated) >= PSNR_TARGETS[variant]
    if variant == "fp32":
        assert np.max(np.abs(generated - reference)) < 1e-4
    assert not np.allclose(generated[0], generated[1], atol=1e-3)  # another caption and noise: another image


def test_litert_model_names_the_inputs_it_takes(tflite_dir, inputs):
    model = LiteRTModel(os.path.join(tflite_dir, "mirrorgan_fp32.tflite"))
    with pytest.raises(ValueError, match=r"inputs \['noise', 'token_ids'\] given; the model takes "
                                         r"\['condition_noise', 'noise', 'token_ids'\]"):
        model.run_inputs(token_ids=inputs["token_ids"][:1], noise=inputs["noise"][:1])


def test_a_variant_under_the_psnr_threshold_is_refused_and_moved_aside(model_dir, tmp_path):
    out = tmp_path / "tflite"
    config = ExportConfig(checkpoint=model_dir, out=str(out), variants=("fp32", "dynamic"), check_examples=2,
                          min_psnr=100.0)
    with pytest.raises(verify.ExportCheckError, match=r"dynamic: PSNR vs Keras .* dB < 100 dB"):
        tflite.main(config)
    assert not (out / "mirrorgan_dynamic.tflite").exists()
    assert (out / "mirrorgan_dynamic.rejected.tflite").is_file()
    assert _read(out / "mirrorgan_dynamic.rejected.json")["checks"]["passed"] is False
    assert _read(out / "mirrorgan_fp32.json")["checks"]["passed"] is True


def test_onnx_generates_like_keras_at_any_batch(model_dir, trained, inputs, tmp_path):
    out = str(tmp_path / "onnx")
    onnx.main(ExportConfig(checkpoint=model_dir, out=out, opset=17, check_examples=2))
    assert sorted(os.listdir(out)) == ["mirrorgan.json", "mirrorgan.onnx", "vocab.txt"]
    assert _read(os.path.join(out, "mirrorgan.json"))["checks"]["passed"] is True
    run = onnx.onnx_runner(os.path.join(out, "mirrorgan.onnx"))
    generated = run(**inputs)[GENERATED_IMAGE]  # the batch of 2 at once: ONNX's batch is dynamic
    assert np.max(np.abs(generated - _keras(trained, inputs))) < 1e-4


def test_the_saved_model_is_checked_like_the_others(model_dir, trained, inputs, tmp_path):
    out = str(tmp_path / "models" / "mirrorgan" / "1")
    saved_model.main(ExportConfig(checkpoint=model_dir, out=out, check_examples=2))
    checks = _read(os.path.join(out, saved_model.CHECKS_FILENAME))["checks"]
    assert checks["passed"] is True and checks["max_abs_diff"] < 1e-5
    run = saved_model.saved_model_runner(out)
    assert set(run.loaded.signatures) == {GENERATE, GENERATE_TENSORS, "serving_default"}
    assert np.max(np.abs(run(**inputs)[GENERATED_IMAGE] - _keras(trained, inputs))) < 1e-5
