"""One tiny trained model and its exports per test session, shared by tests/export and tests/serving.

Both folders' conftests import the fixtures at the end of this file. The builders behind them
are cached here (this module is imported once, and keyed by the session's base temp dir), so
the model trains once and each format is exported once however many test files use it.
"""
from __future__ import annotations

import functools
import os

import pytest

IMAGE_SIZE = 32
MODEL_NAME = "mimnet"


@functools.cache
def _root(basetemp: str) -> str:
    path = os.path.join(basetemp, "export_artifacts")
    os.makedirs(path, exist_ok=True)
    return path


@functools.cache
def model_dir(basetemp: str) -> str:
    """A real model directory: tiny prepared data, 2 training steps, checkpoint, config, vocab."""
    from mimnet_tf.testing import make_model_dir, write_tiny_prepared

    root = _root(basetemp)
    prepared = write_tiny_prepared(os.path.join(root, "prepared"), size=IMAGE_SIZE)
    path = os.path.join(root, "model")
    make_model_dir(path, prepared, image_size=IMAGE_SIZE, train_steps=2)
    return path


@functools.cache
def trained(basetemp: str):
    from mimnet_tf.export import common

    return common.load_checkpoint(model_dir(basetemp))


@functools.cache
def saved_model_base(basetemp: str) -> str:
    """`<root>/models/mimnet` holding version 1 (TF Serving's layout)."""
    from mimnet_tf.export.saved_model import export_saved_model

    base = os.path.join(_root(basetemp), "models", MODEL_NAME)
    export_saved_model(trained(basetemp), os.path.join(base, "1"))
    return base


@functools.cache
def tflite_paths(basetemp: str) -> dict:
    from mimnet_tf.export.tflite import VARIANTS, export_tflite

    return export_tflite(trained(basetemp), os.path.join(_root(basetemp), "tflite"), VARIANTS,
                         representative_samples=16)


@functools.cache
def onnx_path(basetemp: str) -> str:
    from mimnet_tf.export.onnx import export_onnx

    return export_onnx(trained(basetemp), os.path.join(_root(basetemp), "onnx"), opset=17)


def untrained(trained):
    """`trained` with a freshly initialised generator of the same architecture: its exports run and
    have the right tensors but do not edit like the model (what the export checks must refuse)."""
    from mimnet_tf.models.generator import MIMNetGenerator

    generator = MIMNetGenerator(trained.config.model, name="generator")
    generator.build()
    return trained._replace(generator=generator)


@functools.cache
def parity_examples(basetemp: str) -> tuple:
    from mimnet_tf.export import common

    return tuple(common.parity_batches(trained(basetemp), 4))


# ---- session fixtures (imported by tests/export/conftest.py and tests/serving/conftest.py) ----


@pytest.fixture(scope="session")
def basetemp(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session", name="model_dir")
def model_dir_fixture(basetemp):
    return model_dir(basetemp)


@pytest.fixture(scope="session", name="trained")
def trained_fixture(basetemp):
    return trained(basetemp)


@pytest.fixture(scope="session", name="model_base_path")
def model_base_path_fixture(basetemp):
    return saved_model_base(basetemp)


@pytest.fixture(scope="session", name="saved_model_dir")
def saved_model_dir_fixture(basetemp):
    return os.path.join(saved_model_base(basetemp), "1")


@pytest.fixture(scope="session", name="tflite_paths")
def tflite_paths_fixture(basetemp):
    return tflite_paths(basetemp)


@pytest.fixture(scope="session", name="onnx_path")
def onnx_path_fixture(basetemp):
    return onnx_path(basetemp)


@pytest.fixture(scope="session", name="examples")
def examples_fixture(basetemp):
    return list(parity_examples(basetemp))
