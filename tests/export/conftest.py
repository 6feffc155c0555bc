"""Session fixtures: one tiny trained model and its exports (see tests/export/artifacts.py)."""
from tests.export.artifacts import (  # noqa: F401 - pytest fixtures, registered under their `name`
    basetemp, examples_fixture, model_base_path_fixture, model_dir_fixture, onnx_path_fixture,
    saved_model_dir_fixture, tflite_paths_fixture, trained_fixture)
