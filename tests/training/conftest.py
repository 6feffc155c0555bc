"""Fixtures of the training tests (helpers and the worker process are in harness.py)."""
import pytest

from mimnet_tf import testing


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory):
    """Prepared data: 16 train / 8 test random 32 px images, 3 colour captions each."""
    return testing.write_tiny_prepared(str(tmp_path_factory.mktemp("tiny_prepared")), num_train=16, num_test=8)

