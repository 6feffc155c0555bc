"""The README as a user manual: its quickstart is the tested one, its Python example runs as
written, its links lead somewhere and it stays short."""
import os
import re
import subprocess
import sys

import pytest

from tests.doc_blocks import REPO, fenced_block, repository_view

README = os.path.join(REPO, "README.md")


def test_the_quickstart_is_the_one_the_editor_tests_run():
    """tests/inference/test_editor.py runs docs/python_api.md's quickstart block in a fresh-clone layout and
    checks its output; the README shows the very same block."""
    assert fenced_block(README, "quickstart") == fenced_block(os.path.join(REPO, "docs", "python_api.md"),
                                                              "quickstart")


def test_every_relative_link_and_picture_exists():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links no document"
    missing = [t for t in local if not os.path.exists(os.path.join(REPO, t))]
    assert not missing


def test_it_is_a_manual_not_a_notebook():
    with open(README, encoding="utf-8") as f:
        assert len(f.read().splitlines()) <= 260


@pytest.mark.slow
def test_the_python_example_runs_as_written(tmp_path):
    block = fenced_block(README, "python-example")
    folder = repository_view(str(tmp_path / "repo"))
    process = subprocess.run([sys.executable, "-c", block], cwd=folder, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    assert os.path.getsize(os.path.join(folder, "edited.png")) > 0
    assert os.path.getsize(os.path.join(folder, "edited_map.png")) > 0
