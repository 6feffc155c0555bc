"""Fixtures shared by the MirrorGAN and STREAM tests."""
import pytest

from tests.models.mirrorgan_fixtures import write_setup


@pytest.fixture(scope="session")
def mirrorgan_setup(tmp_path_factory):
    """(RunConfig, vocab, STREAM pretraining summary) of a tiny MirrorGAN with its DAMSM and STREAM dirs."""
    return write_setup(str(tmp_path_factory.mktemp("mirrorgan")))
