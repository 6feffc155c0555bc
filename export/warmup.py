"""TF Serving's SavedModel warm-up file: `<version dir>/assets.extra/tf_serving_warmup_requests`.

TF Serving replays the requests of this file when it loads a version (`--enable_model_warmup`,
on by default) before it reports the version AVAILABLE, so the first client does not pay for
the runtime's lazy start-up. The file is a TFRecord of `PredictionLog` protos, each holding a
`PredictRequest`, at most 1,000 of them, representative of real requests
(tensorflow.org/tfx/serving/saved_model_warmup). Ours: one request per signature clients call,
batch 1, an S x S PNG and a sentence of the model's own words for `edit`, the same picture and
sentence as tensors for `edit_tensors`.
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from mimnet_tf import images
from mimnet_tf.export import signatures

WARMUP_DIR = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving reads no more


def warmup_path(version_dir: str) -> str:
    return os.path.join(version_dir, WARMUP_DIR, WARMUP_FILENAME)


def warmup_picture(image_size: int) -> np.ndarray:
    """uint8 (S, S, 3): a smooth colour ramp (any real-looking picture warms the same kernels)."""
    ramp = np.linspace(0, 255, image_size, dtype=np.float32)
    return np.stack([np.broadcast_to(ramp[None, :], (image_size, image_size)),
                     np.broadcast_to(ramp[:, None], (image_size, image_size)),
                     np.full((image_size, image_size), 128.0)], axis=-1).astype(np.uint8)


def warmup_requests(vocab, image_size: int, max_words: int, model_name: str) -> list:
    """The PredictionLog records: `edit` and `edit_tensors`, batch 1."""
    picture = warmup_picture(image_size)
    sentence = " ".join(vocab.words[2:2 + max_words])  # every word known, the longest caption the model reads
    inputs = {
        signatures.EDIT: {signatures.IMAGE_BYTES: np.array([images.encode_png(picture)], dtype=object),
                          signatures.TEXT: np.array([sentence.encode("utf-8")], dtype=object)},
        signatures.EDIT_TENSORS: {signatures.IMAGE: images.to_model_range(picture)[None],
                                  signatures.TOKEN_IDS: vocab.encode(sentence, max_words)[0][None]},
    }
    logs = []
    for signature_name, tensors in inputs.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature_name
        for alias, value in tensors.items():
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(version_dir: str, vocab, image_size: int, max_words: int, model_name: str = "") -> str:
    """Writes the warm-up file into a SavedModel version directory (`<base>/<version>`); returns its path.

    `model_name` goes into each request's model_spec (TF Serving runs the records on the version
    it loads, whatever the name); by default the base directory's name (`models/mimnet/1` -> mimnet).
    """
    model_name = model_name or os.path.basename(os.path.dirname(os.path.abspath(version_dir))) or "mimnet"
    logs = warmup_requests(vocab, image_size, max_words, model_name)
    path = warmup_path(version_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path: str) -> list:
    """The PredictionLog records of a warm-up file (what TF Serving reads)."""
    logs = []
    for record in tf.data.TFRecordDataset(path).take(MAX_RECORDS + 1):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs
