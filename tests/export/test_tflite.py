"""TFLite: builtin ops only, static shapes, one signature, parity and PSNR per variant, metadata."""
import json
import os

import numpy as np
import pytest
from tensorflow.lite.python.schema_py_generated import TensorType
from tensorflow.lite.tools import flatbuffer_utils

from mimnet_tf.export import common, tflite, tflite_compaction
from mimnet_tf.inference.exported_model import LiteRTModel

pytestmark = pytest.mark.slow

PSNR_TARGETS = {"fp16": 60.0, "dynamic": 40.0, "int8": 35.0}


@pytest.fixture(scope="module")
def results(trained, tflite_paths, examples):
    results = tflite.evaluate(trained, tflite_paths, examples)
    for variant, result in results.items():
        print(f"TFLite {variant:8} {result['megabytes']:.3f} MB  max |diff| {result['max_abs_diff']:.2e}  "
              f"PSNR vs Keras {result['psnr']:.1f} dB")
    return results


def test_every_variant_is_written_with_metadata_and_vocab(tflite_paths, trained):
    assert set(tflite_paths) == set(tflite.VARIANTS)
    out_dir = os.path.dirname(tflite_paths["fp32"])
    with open(os.path.join(out_dir, "vocab.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == trained.vocab.words
    model = trained.config.model
    for variant, path in tflite_paths.items():
        with open(os.path.splitext(path)[0] + ".json", encoding="utf-8") as f:
            meta = json.load(f)
        assert meta["variant"] == variant and meta["model_file"] == os.path.basename(path)
        assert (meta["image_size"], meta["max_words"], meta["vocab_file"]) == (model.image_size, model.max_words,
                                                                              "vocab.txt")
        assert meta["map_size"] == model.image_size // model.feature_downsample
        assert meta["normalisation"]["scale"] == 127.5 and meta["normalisation"]["offset"] == -1.0
        assert meta["tokenizer"]["separator_pattern"] == "[^a-z0-9]+"


@pytest.mark.parametrize("variant", tflite.VARIANTS)
def test_one_signature_static_shapes_builtin_ops_only(tflite_paths, trained, variant):
    model = LiteRTModel(tflite_paths[variant])
    interpreter = model.interpreter
    signature = interpreter.get_signature_list()
    assert list(signature) == ["serving_default"]
    assert sorted(signature["serving_default"]["inputs"]) == ["image", "token_ids"]
    assert sorted(signature["serving_default"]["outputs"]) == ["edited_image", "localisation_map"]
    runner = interpreter.get_signature_runner()
    size, words = trained.config.model.image_size, trained.config.model.max_words
    shapes = {name: (d["shape_signature"].tolist(), d["dtype"]) for name, d in runner.get_input_details().items()}
    assert shapes == {"image": ([1, size, size, 3], np.float32), "token_ids": ([1, words], np.int32)}
    for name, details in runner.get_output_details().items():
        assert -1 not in details["shape_signature"].tolist(), name
        assert details["dtype"] == np.float32
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert not [op for op in ops if op.startswith("Flex") or op == "CUSTOM"], ops
    assert "REVERSE_SEQUENCE" in ops  # the text encoder's backward direction survived conversion


def test_int8_keeps_reverse_sequence_in_float(tflite_paths):
    interpreter = LiteRTModel(tflite_paths["int8"]).interpreter
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    reverse_ops = [op for op in interpreter._get_ops_details() if op["op_name"] == "REVERSE_SEQUENCE"]
    assert len(reverse_ops) == 2
    for op in reverse_ops:
        assert tensors[op["inputs"][0]]["dtype"] == np.float32
    int8_tensors = [t for t in tensors.values() if t["dtype"] == np.int8]
    assert len(int8_tensors) > 20  # the convolutions really are int8


def test_int8_stores_its_float_matmuls_weights_int8(tflite_paths):
    """The ops kept float keep float activations, not float32 weights (export/tflite_compaction.py)."""
    model = flatbuffer_utils.read_model(tflite_paths["int8"])
    graph = model.subgraphs[0]
    weight_types = []
    for op in graph.operators:
        if (tflite_compaction.op_name(model, op) == "FULLY_CONNECTED"
                and graph.tensors[op.inputs[0]].type == TensorType.FLOAT32  # an op the quantizer kept float
                and np.prod(graph.tensors[op.inputs[1]].shape) >= tflite_compaction.MIN_ELEMENTS):
            weight_types.append(graph.tensors[op.inputs[1]].type)
    assert set(weight_types) <= {TensorType.INT8}, weight_types  # the tiny model's float matmuls may all be small
    with open(os.path.splitext(tflite_paths["int8"])[0] + ".json", encoding="utf-8") as f:
        storage = json.load(f)["quantization"]["storage"]
    assert len(storage["float_ops_with_int8_weights"]) == len(weight_types)


def test_fp32_equals_keras(results):
    assert results["fp32"]["max_abs_diff"] < 1e-4


@pytest.mark.parametrize("variant", sorted(PSNR_TARGETS))
def test_quantized_variants_meet_psnr_targets(results, variant):
    assert results[variant]["psnr"] >= PSNR_TARGETS[variant]


def test_quantized_files_are_smaller(results):
    assert results["fp16"]["megabytes"] < results["fp32"]["megabytes"]
    assert results["dynamic"]["megabytes"] < results["fp16"]["megabytes"]


def test_fp32_runs_batches_like_keras(tflite_paths, trained, examples):
    model = LiteRTModel(tflite_paths["fp32"])
    for example in examples[:2]:
        outputs = model.run(example["image"], example["token_ids"])
        reference = common.keras_outputs(trained, example["image"], example["token_ids"])
        assert outputs["localisation_map"].shape == reference["localisation_map"].shape
        assert common.max_abs_diff(reference, outputs) < 1e-4


@pytest.mark.parametrize("variants, message", [
    ("fp32,int4", "unknown variant 'int4'"),
    ("", "--variants is empty"),
    (["fp16", "bf16"], "unknown variant 'bf16'"),
])
def test_parse_variants_names_the_bad_value(variants, message):
    with pytest.raises(ValueError, match=message):
        tflite.parse_variants(variants)


def test_parse_variants_keeps_order_and_drops_duplicates():
    assert tflite.parse_variants("int8, fp32,int8") == ("int8", "fp32")


def test_main_rejects_bad_variants_before_loading_anything(tmp_path):
    from mimnet_tf.config import ExportConfig

    with pytest.raises(ValueError, match="unknown variant 'fp8'"):
        tflite.main(ExportConfig(checkpoint=str(tmp_path / "missing"), out=str(tmp_path), variants=("fp8",)))
