"""Install mimnet_tf: `pip install -e .` (add `[dev]` for the test tools).

Versions are pinned so that a fresh install reproduces the environment the project is tested
in; `requirements.lock` pins every transitive package too and the Makefile installs with it.
"""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "tensorflow-text==2.21.1",
    "tensorboard==2.21.0",
    "tf2onnx==1.17.0",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "ai-edge-litert==2.3.0",
    "tensorflow-serving-api==2.21.0",
    "grpcio==1.85.3",
    "protobuf==7.36.2",
    "absl-py==2.5.1",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pillow==13.0.0",
    "h5py==3.14.0",
    "tqdm==4.70.1",
]

EXTRAS_REQUIRE = {"dev": ["pytest==9.2.0", "pytest-xdist==3.8.0"]}

ENTRY_POINTS = {
    "console_scripts": [
        "mimnet-train=mimnet_tf.train:run",
        "mimnet-edit=mimnet_tf.edit:run",
        "mimnet-evaluate=mimnet_tf.evaluate:run",
        "mimnet-benchmark-edits=mimnet_tf.benchmark_edits:run",
        "mimnet-benchmark-generation=mimnet_tf.benchmark_generation:run",
        "mimnet-report=mimnet_tf.report:run",
        "mimnet-pretrain-damsm=mimnet_tf.pretrain_damsm:run",
        "mimnet-pretrain-stream=mimnet_tf.pretrain_stream:run",
        "mimnet-generate=mimnet_tf.generate:run",
        "mimnet-prepare=mimnet_tf.data.prepare:run",
        "mimnet-synthbirds=mimnet_tf.data.synthbirds.__main__:run",
        "mimnet-export-savedmodel=mimnet_tf.export.saved_model:run",
        "mimnet-export-tflite=mimnet_tf.export.tflite:run",
        "mimnet-export-onnx=mimnet_tf.export.onnx:run",
        "mimnet-serve=mimnet_tf.serving.server:run",
        "mimnet-client=mimnet_tf.serving.client:run",
        "mimnet-tflite-edit=mimnet_tf.serving.tflite_edit:run",
        "mimnet-web=mimnet_tf.serving.web:run",
    ]
}

setup(
    name="mimnet_tf",
    version="0.1.0",
    description="MIM-Net (text-guided image manipulation with memory) and MirrorGAN in TensorFlow/Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["mimnet_tf", "mimnet_tf.*"]),
    package_data={"mimnet_tf": ["data/synthbirds/*.json", "data/*.txt"], "mimnet_tf.serving": ["web_static/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points=ENTRY_POINTS,
)
