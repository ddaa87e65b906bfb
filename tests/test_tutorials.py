"""The tutorials under ``docs/tutorials/`` (issue 12, item 6) stay true: each page's ```python blocks
run in order, as one script in a fresh interpreter, in an empty folder; any error fails the test."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = {"i2e-cifar10-tonic.md": ("torch", "tonic", "pyarrow"), "cifar10dvs-frames.md": ("torch",)}


def page_code(name: str) -> str:
    blocks = BLOCK.findall((ROOT / "docs" / "tutorials" / name).read_text(encoding="utf-8"))
    assert blocks, f"{name} has no python blocks"
    return "\n".join(blocks)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_tutorial_runs(name, tmp_path):
    for module in PAGES[name]:
        pytest.importorskip(module)
    env = {**os.environ, "EVIO_REPO": str(ROOT),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", page_code(name)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_tutorials_are_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (ROOT / "docs" / "tutorials").glob("*.md"):
        assert f"tutorials/{page.name}" in nav
