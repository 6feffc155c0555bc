"""Session fixtures: the tiny model's exports (shared with tests/export) and a loopback server."""
import os

import pytest

from tests.export.artifacts import (  # noqa: F401 - pytest fixtures, registered under their `name`
    basetemp, examples_fixture, model_base_path_fixture, model_dir_fixture, saved_model_dir_fixture,
    tflite_paths_fixture, trained_fixture)

SERVING_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "serving"))


@pytest.fixture(scope="session")
def server(model_base_path):
    """The mimnet_tf.serving.server over the SavedModel on 127.0.0.1, free ports, the shipped batching file."""
    from mimnet_tf.serving.server import ModelServer, ServerConfig

    config = ServerConfig(model_base_path=model_base_path, port=0, rest_api_port=0,
                          batching_parameters_file=os.path.join(SERVING_DIR, "batching_parameters.txt"),
                          max_request_bytes=1 << 20, max_image_pixels=512 * 512)
    server = ModelServer(config).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(server):
    from mimnet_tf.serving.client import ClientConfig, EditClient

    with EditClient(ClientConfig(server=f"127.0.0.1:{server.grpc_port}", timeout_seconds=30.0)) as client:
        yield client
