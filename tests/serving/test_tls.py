"""TLS from TF Serving's --ssl_config_file: gRPC and REST over loopback, plaintext refused, client certificates.

The certificates are made at test time with the `openssl` command: a CA, a server certificate
for localhost and 127.0.0.1, and a client certificate, all signed by the CA.
"""
import http.client
import json
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from mimnet_tf import images

pytestmark = pytest.mark.slow


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for serial, name in enumerate(("server", "client"), start=1):
        _openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost", cwd=folder)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
                 str(serial), "-days", "2", "-out", f"{name}.pem", "-extfile", "san.ext", cwd=folder)
    return {name: str(folder / name) for name in ("ca.pem", "server.key", "server.pem", "client.key", "client.pem")}


def _ssl_config_file(path, server_key, server_cert, custom_ca="", client_verify=False) -> str:
    """The text-format SSLConfig a user writes for TF Serving: PEM text in quoted strings."""
    def pem(file):
        with open(file, encoding="ascii") as f:
            return json.dumps(f.read())  # a JSON string of ASCII is a valid text-format string

    lines = [f"server_key: {pem(server_key)}", f"server_cert: {pem(server_cert)}"]
    if custom_ca:
        lines.append(f"custom_ca: {pem(custom_ca)}")
    lines.append(f"client_verify: {str(client_verify).lower()}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _start(model_base_path, ssl_config_file):
    from mimnet_tf.serving.server import ModelServer, ServerConfig

    return ModelServer(ServerConfig(model_base_path=model_base_path, port=0, rest_api_port=0, warm_up=False,
                                    ssl_config_file=ssl_config_file)).start()


@pytest.fixture(scope="module")
def tls_server(model_base_path, certificates, tmp_path_factory):
    path = _ssl_config_file(tmp_path_factory.mktemp("tls_config") / "ssl_config.txt",
                            certificates["server.key"], certificates["server.pem"])
    server = _start(model_base_path, path)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def verifying_server(model_base_path, certificates, tmp_path_factory):
    path = _ssl_config_file(tmp_path_factory.mktemp("tls_config") / "ssl_config.txt", certificates["server.key"],
                            certificates["server.pem"], certificates["ca.pem"], client_verify=True)
    server = _start(model_base_path, path)
    yield server
    server.stop()


def _edit(server, **tls_files):
    from mimnet_tf.serving.client import ClientConfig, EditClient

    image = images.encode_png(np.full((20, 28, 3), 90, np.uint8))
    with EditClient(ClientConfig(server=f"localhost:{server.grpc_port}", timeout_seconds=20, **tls_files)) as client:
        edited, _ = client.edit(image, "a red bird")
    return images.decode_image(edited).shape


def _model_status(channel):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "mimnet"
    return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=10)


def _rest_status(server, scheme="https", context=None) -> int:
    url = f"{scheme}://localhost:{server.rest_port}/v1/models/mimnet"
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status


def test_grpc_and_rest_over_tls_and_plaintext_is_refused(tls_server, certificates):
    assert _edit(tls_server, ssl_root_cert=certificates["ca.pem"]) == (20, 28, 3)
    with grpc.insecure_channel(f"127.0.0.1:{tls_server.grpc_port}") as channel, pytest.raises(grpc.RpcError) as error:
        _model_status(channel)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _rest_status(tls_server, context=ssl.create_default_context(cafile=certificates["ca.pem"])) == 200
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        _rest_status(tls_server, scheme="http")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # the client checks the server
        _rest_status(tls_server, context=ssl.create_default_context())


def test_client_verify_refuses_clients_without_a_certificate_from_custom_ca(verifying_server, certificates):
    root = certificates["ca.pem"]
    assert _edit(verifying_server, ssl_root_cert=root, ssl_client_key=certificates["client.key"],
                 ssl_client_cert=certificates["client.pem"]) == (20, 28, 3)
    with open(root, "rb") as f:
        root_only = grpc.ssl_channel_credentials(f.read())
    with grpc.secure_channel(f"localhost:{verifying_server.grpc_port}", root_only) as channel:
        with pytest.raises(grpc.RpcError) as error:
            _model_status(channel)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    with_certificate = ssl.create_default_context(cafile=root)
    with_certificate.load_cert_chain(certificates["client.pem"], certificates["client.key"])
    assert _rest_status(verifying_server, context=with_certificate) == 200
    with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
        _rest_status(verifying_server, context=ssl.create_default_context(cafile=root))


@pytest.mark.parametrize("case, message", [
    ("missing file", "--ssl_config_file=.*: no such file"),
    ("not text format", "not a text-format SSLConfig"),
    ("a path instead of the PEM", "server_key must hold a PEM"),
    ("client_verify without custom_ca", "client_verify needs custom_ca"),
    ("key of another certificate", "are not a valid PEM key and its certificate"),
])
def test_a_bad_ssl_config_file_is_named_before_the_model_loads(tmp_path, certificates, case, message):
    from mimnet_tf.serving.server import ModelServer, ServerConfig

    path = tmp_path / "ssl_config.txt"
    if case == "not text format":
        path.write_text("server_key = 'x'\n")
    elif case == "a path instead of the PEM":
        path.write_text(f'server_key: "{certificates["server.key"]}"\nserver_cert: "{certificates["server.pem"]}"\n')
    elif case == "client_verify without custom_ca":
        _ssl_config_file(path, certificates["server.key"], certificates["server.pem"], client_verify=True)
    elif case == "key of another certificate":
        _ssl_config_file(path, certificates["client.key"], certificates["server.pem"])
    # No model directory is needed: the file is checked first.
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        ModelServer(ServerConfig(model_base_path=str(tmp_path / "no_model"), ssl_config_file=str(path)))


def test_client_tls_files_are_checked(tmp_path):
    from mimnet_tf.serving.client import ClientConfig, EditClient

    with pytest.raises(FileNotFoundError, match="--ssl_root_cert=.*no such file"):
        EditClient(ClientConfig(ssl_root_cert=str(tmp_path / "ca.pem")))
    with pytest.raises(ValueError, match="go together"):
        EditClient(ClientConfig(ssl_root_cert="", ssl_client_key=str(tmp_path / "client.key")))
