"""TLS for the server (gRPC and REST) and its client, configured the way TF Serving is.

`--ssl_config_file` names a text-format `tensorflow.serving.SSLConfig`, the file
`tensorflow_model_server --ssl_config_file` reads, with the same four fields holding PEM *text*
(not paths), as TF Serving's server.cc passes them to gRPC:

    server_key: "-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n"
    server_cert: "-----BEGIN CERTIFICATE-----\\n...\\n-----END CERTIFICATE-----\\n"
    custom_ca: "-----BEGIN CERTIFICATE-----\\n..."   # the CA client certificates must chain to
    client_verify: true                             # require and verify a client certificate

TF Serving secures only gRPC with it; this server uses the same key and certificate for REST too
(HTTPS), so one file secures both ports. Clients pass the CA (or the self-signed certificate)
that signed `server_cert`, and with `client_verify` their own key and certificate.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import ssl
import tempfile

import grpc


@dataclasses.dataclass(frozen=True)
class SSLConfig:
    """TF Serving's SSLConfig (tensorflow_serving/config/ssl_config.proto): PEM text and one switch."""

    server_key: str
    server_cert: str
    custom_ca: str = ""
    client_verify: bool = False


@functools.cache
def _proto_class():
    """SSLConfig as a protobuf message, so the file is parsed by protobuf's own text format.

    tensorflow-serving-api ships no ssl_config_pb2, so the message is declared here with the
    .proto's package, name, field numbers and types.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="tensorflow_serving/config/ssl_config.proto",
                                               package="tensorflow.serving", syntax="proto3")
    message = proto.message_type.add(name="SSLConfig")
    field = descriptor_pb2.FieldDescriptorProto
    for number, (name, kind) in enumerate([("server_key", field.TYPE_STRING), ("server_cert", field.TYPE_STRING),
                                           ("custom_ca", field.TYPE_STRING), ("client_verify", field.TYPE_BOOL)],
                                          start=1):
        message.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.SSLConfig"))


def parse_ssl_config(text: str, source: str = "<ssl config>") -> SSLConfig:
    from google.protobuf import text_format

    message = _proto_class()()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise ValueError(f"{source}: not a text-format SSLConfig ({error}); expected server_key, server_cert, "
                         "custom_ca, client_verify") from None
    config = SSLConfig(message.server_key, message.server_cert, message.custom_ca, message.client_verify)
    for name in ("server_key", "server_cert"):
        if "-----BEGIN" not in getattr(config, name):
            raise ValueError(f"{source}: {name} must hold a PEM (the text \"-----BEGIN ...\", as in TF Serving), "
                             f"got {getattr(config, name)[:40]!r}")
    if config.client_verify and "-----BEGIN" not in config.custom_ca:
        raise ValueError(f"{source}: client_verify needs custom_ca, the PEM of the CA that signs client certificates")
    return config


def load_ssl_config(path: str) -> SSLConfig:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--ssl_config_file={path}: no such file")
    with open(path, encoding="utf-8") as f:
        return parse_ssl_config(f.read(), source=f"--ssl_config_file={path}")


def grpc_server_credentials(config: SSLConfig) -> grpc.ServerCredentials:
    """TF Serving's BuildServerCredentials: the key pair, custom_ca as roots, client_verify forcing client auth."""
    return grpc.ssl_server_credentials([(config.server_key.encode(), config.server_cert.encode())],
                                       root_certificates=config.custom_ca.encode() or None,
                                       require_client_auth=config.client_verify)


def rest_ssl_context(config: SSLConfig, source: str = "<ssl config>") -> ssl.SSLContext:
    """A server-side context for REST with the same key, certificate and client verification as gRPC.

    Also the check that the key and certificate are valid PEM and belong together (gRPC would only
    find out at the first handshake).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The ssl module loads keys from files only: a private directory (mode 0700) holds them for
    # the moment of loading.
    with tempfile.TemporaryDirectory(prefix="mimnet-tls-") as directory:
        key_path, cert_path = os.path.join(directory, "key.pem"), os.path.join(directory, "cert.pem")
        for path, text in ((key_path, config.server_key), (cert_path, config.server_cert)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
                f.write(text)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as error:
            raise ValueError(f"{source}: server_key and server_cert are not a valid PEM key and its certificate "
                             f"({error.reason or error})") from None
    if config.client_verify:
        try:
            context.load_verify_locations(cadata=config.custom_ca)
        except ssl.SSLError as error:
            raise ValueError(f"{source}: custom_ca is not a valid PEM certificate ({error.reason or error})") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def channel_credentials(root_cert: str, client_key: str = "", client_cert: str = "") -> grpc.ChannelCredentials:
    """Client side: trust the PEM file `root_cert`; with client_verify, present a key and certificate."""
    def read(path: str, flag: str) -> bytes | None:
        if not path:
            return None
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--{flag}={path}: no such file")
        with open(path, "rb") as f:
            return f.read()

    if bool(client_key) != bool(client_cert):
        raise ValueError("--ssl_client_key and --ssl_client_cert go together (the key and its certificate)")
    return grpc.ssl_channel_credentials(root_certificates=read(root_cert, "ssl_root_cert"),
                                        private_key=read(client_key, "ssl_client_key"),
                                        certificate_chain=read(client_cert, "ssl_client_cert"))
