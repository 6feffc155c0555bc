"""Export checks: a broken export is refused and moved aside, the figures are recorded beside it."""
import dataclasses
import json
import os

import numpy as np
import pytest

from mimnet_tf.config import ExportConfig
from mimnet_tf.export import signatures, tflite, verify
from tests.export import artifacts

pytestmark = pytest.mark.slow


def _broken_convert(trained):
    """tflite.convert, except that fp16 converts a freshly initialised generator of the same
    architecture: a variant that runs and has the right tensors but does not edit like the model."""
    original = tflite.convert
    broken = artifacts.untrained(trained).generator
    model = trained.config.model

    def convert(module, variant, *args, **kwargs):
        if variant == "fp16":
            module = signatures.TensorModule(broken, model.image_size, model.max_words, 1)
        return original(module, variant, *args, **kwargs)

    return convert


def _read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_a_broken_variant_is_refused_and_moved_aside(model_dir, trained, tmp_path, monkeypatch):
    monkeypatch.setattr(tflite, "convert", _broken_convert(trained))
    out = tmp_path / "tflite"
    config = ExportConfig(checkpoint=model_dir, out=str(out), variants=("fp32", "fp16"), check_examples=4)
    with pytest.raises(verify.ExportCheckError, match=r"fp16: PSNR vs Keras .* dB < 35 dB") as refused:
        tflite.main(config)
    assert isinstance(refused.value, ValueError)  # run_entry_point turns it into exit code 2
    assert not (out / "mimnet_fp16.tflite").exists() and not (out / "mimnet_fp16.json").exists()
    assert (out / "mimnet_fp16.rejected.tflite").is_file()
    failed = _read(out / "mimnet_fp16.rejected.json")["checks"]
    assert failed["passed"] is False and failed["psnr_vs_keras_db"] < 35
    kept = _read(out / "mimnet_fp32.json")["checks"]
    assert kept["passed"] is True
    assert kept["psnr_vs_keras_db"] == "inf" or kept["psnr_vs_keras_db"] > 100
    assert kept["max_abs_diff"] < 1e-4 and kept["thresholds"] == {"min_psnr_db": 35.0, "max_accuracy_drop": 0.02}


def test_keep_failing_keeps_the_file_but_still_fails(model_dir, trained, tmp_path, monkeypatch):
    monkeypatch.setattr(tflite, "convert", _broken_convert(trained))
    out = tmp_path / "tflite"
    config = ExportConfig(checkpoint=model_dir, out=str(out), variants=("fp16",), check_examples=2, keep_failing=True)
    with pytest.raises(verify.ExportCheckError, match=r"kept \(--keep_failing\)"):
        tflite.main(config)
    assert (out / "mimnet_fp16.tflite").is_file()
    assert _read(out / "mimnet_fp16.json")["checks"]["passed"] is False


def test_a_synthbirds_model_records_its_benchmark_accuracy_next_to_keras(trained, tflite_paths, tmp_path):
    synthbirds = trained._replace(config=dataclasses.replace(
        trained.config, data=dataclasses.replace(trained.config.data, dataset="synthbirds")))
    path = tmp_path / "mimnet_fp32.tflite"
    path.write_bytes(open(tflite_paths["fp32"], "rb").read())
    json_path = tmp_path / "mimnet_fp32.json"
    json_path.write_text(open(os.path.splitext(tflite_paths["fp32"])[0] + ".json", encoding="utf-8").read())
    (tmp_path / "vocab.txt").write_text(open(os.path.join(os.path.dirname(tflite_paths["fp32"]), "vocab.txt")).read())
    results = verify.check_exports(synthbirds, tflite.written({"fp32": str(path)}),
                                   verify.CheckConfig(cases=6, examples=2))
    recorded = _read(json_path)
    assert recorded["checks"] == json.loads(json.dumps(results["fp32"]))
    assert recorded["image_size"] == trained.config.model.image_size  # the metadata is still there
    checks = recorded["checks"]
    assert checks["benchmark_cases"] == 6 and checks["benchmark_split"] == "validation" and checks["passed"] is True
    # fp32 edits exactly like Keras: the same accuracy, kept accuracy and background on the same cases
    for key in ("attribute_accuracy", "kept_accuracy", "background_l1"):
        assert checks[key] == pytest.approx(checks[f"keras_{key}"], abs=1e-3), key
    assert verify.format_results(results).splitlines()[1].endswith("ok")


def test_rejected_paths_keep_the_extension_so_nothing_loads_them_by_name(tmp_path):
    assert verify.rejected_path("models/tflite/mimnet_int8.tflite") == "models/tflite/mimnet_int8.rejected.tflite"
    version = tmp_path / "mimnet" / "1"
    version.mkdir(parents=True)
    assert verify.rejected_path(str(version) + "/") == str(version) + ".rejected"


def test_check_config_names_bad_values():
    with pytest.raises(ValueError, match="--check_examples=0"):
        verify.CheckConfig(examples=0)
    with pytest.raises(ValueError, match="--max_accuracy_drop=-0.1"):
        verify.CheckConfig(max_accuracy_drop=-0.1)


def test_int8_keeps_the_masked_softmax_fill_in_float(tflite_paths):
    """The -1e9 fill at padding words would set an int8 scale of ~4e6 (every word weighted alike)."""
    from mimnet_tf.inference.exported_model import LiteRTModel

    interpreter = LiteRTModel(tflite_paths["int8"]).interpreter
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    selects = [op for op in interpreter._get_ops_details() if op["op_name"] == "SELECT_V2"]
    assert selects
    for op in selects:
        assert tensors[op["outputs"][0]]["dtype"] == np.float32, tensors[op["outputs"][0]]["name"]
    meta = _read(os.path.splitext(tflite_paths["int8"])[0] + ".json")["quantization"]
    assert meta["structural_float_ops"] == ["REVERSE_SEQUENCE", "DIV"]
    assert any("SelectV2" in kept["tensor"] for kept in meta["kept_float"])
    sensitivity = os.path.join(os.path.dirname(tflite_paths["int8"]), meta["sensitivity_file"])
    with open(sensitivity, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    assert header == ["op", "tensor", "scale", "rmse_over_scale", "relative_error", "kept_float"]
