"""Running the documentation's commands and code as written.

A block is marked by an HTML comment on the line before its fence (`<!-- quickstart -->`), so
the docs stay plain Markdown and a test finds exactly the block it runs. `repository_view`
makes a folder that looks like the repository's root (a symlink per top-level entry, `.venv`
included) so commands with relative paths run as written while what they write lands in a
temporary folder, not in the repository.
"""
from __future__ import annotations

import os
import re
import subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
_OUTPUTS = {".git", ".pytest_cache", "demo_output", "runs", "models", "data", "build"}


def fenced_block(path: str, marker: str) -> str:
    """The body of the fenced code block that follows `<!-- marker -->` in a Markdown file."""
    with open(path, encoding="utf-8") as f:
        document = f.read()
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*\n```[^\n]*\n(.*?)\n```", document, re.DOTALL)
    if not match:
        raise AssertionError(f"{path}: no fenced block after <!-- {marker} -->")
    return match.group(1)


def block_after(path: str, marker: str) -> str:
    """The first fenced block after the one that `marker` marks (e.g. a command's documented output)."""
    with open(path, encoding="utf-8") as f:
        document = f.read()
    start = document.index(f"<!-- {marker} -->")
    blocks = re.findall(r"```[^\n]*\n(.*?)\n```", document[start:], re.DOTALL)
    if len(blocks) < 2:
        raise AssertionError(f"{path}: no second fenced block after <!-- {marker} -->")
    return blocks[1]


def repository_view(folder: str) -> str:
    """`folder` with a symlink to each top-level entry of the repository (outputs left out); returns it."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(REPO):
        if name not in _OUTPUTS:
            os.symlink(os.path.join(REPO, name), os.path.join(folder, name))
    return folder


def make_install_is_done() -> bool:
    """`make install` has nothing to do (as under `make test`), so running it in a view installs nothing."""
    return subprocess.run(["make", "-q", "install"], cwd=REPO, capture_output=True, timeout=60).returncode == 0
