"""Test-wide set-up: quiet TF logs, and two logical CPU devices for the multi-device tests.

Logical devices must be configured before TensorFlow initialises its runtime, so it happens
here, at import time of the test session, before any test module touches a tensor.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-exact comparisons across code paths
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # already initialised by a plugin; multi-device tests skip themselves
    pass
