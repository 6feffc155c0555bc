"""ONNX (tf2onnx, opset 17): parity with the Keras model in onnxruntime, dynamic batch, metadata."""
import json
import os

import numpy as np
import onnx
import pytest

from mimnet_tf.export import common
from mimnet_tf.export.onnx import onnx_runner

pytestmark = pytest.mark.slow


def test_opset_and_tensor_names(onnx_path):
    model = onnx.load(onnx_path)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert [i.name for i in model.graph.input] == ["image", "token_ids"]
    assert sorted(o.name for o in model.graph.output) == ["edited_image", "localisation_map"]
    with open(os.path.splitext(onnx_path)[0] + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["format"] == "onnx" and meta["inputs"][0]["shape"][0] == -1
    assert os.path.isfile(os.path.join(os.path.dirname(onnx_path), meta["vocab_file"]))


def test_onnxruntime_equals_keras(onnx_path, trained, examples):
    result = common.compare(trained, onnx_runner(onnx_path), examples)
    print(f"ONNX Runtime vs Keras: max abs diff {result['max_abs_diff']:.2e}, PSNR {result['psnr']:.1f} dB")
    assert result["max_abs_diff"] < 1e-4


def test_onnxruntime_runs_a_dynamic_batch(onnx_path, trained, examples):
    batch = common.group(examples, len(examples))[0]
    outputs = onnx_runner(onnx_path)(batch["image"], batch["token_ids"])
    reference = common.keras_outputs(trained, batch["image"], batch["token_ids"])
    assert outputs["edited_image"].shape == (len(examples),) + reference["edited_image"].shape[1:]
    assert common.max_abs_diff(reference, outputs) < 1e-4
    assert np.all((outputs["localisation_map"] >= 0) & (outputs["localisation_map"] <= 1))
