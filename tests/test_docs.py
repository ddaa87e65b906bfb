"""The API reference (``make docs``, issue 16 item 4): every public name has a ``:::`` entry under
``docs/api/`` that resolves, and a docstring that gives its units and shapes. Needs no MkDocs."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

import evio

ROOT = Path(__file__).resolve().parent.parent
API_PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))
DIRECTIVE = re.compile(r"^::: *([\w.]+) *$")
MEMBERS = re.compile(r"^\s+members: *\[([^\]]*)\]")

#: Functions of ``evio.__all__`` that take or return event tensors: their docstrings give the shape.
TENSOR_FUNCTIONS = ("frames", "frames_batch", "pad_collate", "padded_sequence_mask", "to_dense", "from_dense",
                    "i2e", "odg", "es_imagenet_dense", "edge_integral")
#: A shape such as ``[T, 2, H, W]`` or ``[N, 3]``: comma-separated, at least one named axis.
SHAPE = re.compile(r"\[(?=[^\]\n]*\b[A-Z]\w*)[^\]\n]*, [^\]\n]*\]")


def _documented() -> set[str]:
    """Every object named by a ``:::`` directive, and ``module.member`` for each name in its ``members:``."""
    names, current = set(), None
    for page in API_PAGES:
        for line in page.read_text(encoding="utf-8").splitlines():
            if match := DIRECTIVE.match(line):
                current = match[1]
                names.add(current)
            elif (match := MEMBERS.match(line)) and current is not None:
                names.update(f"{current}.{m.strip()}" for m in match[1].split(",") if m.strip())
            elif line and not line[0].isspace():
                current = None
    return names


def _resolve(path: str):
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def _public_callables():
    for name in evio.__all__:
        obj = getattr(evio, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield name, obj


def test_api_pages_exist():
    assert {p.stem for p in API_PAGES} >= {"index", "files", "readers-writers", "tensors", "packbits", "images",
                                           "datasets", "render", "errors"}


@pytest.mark.parametrize("name", evio.__all__)
def test_public_name_has_reference_entry(name):
    assert f"evio.{name}" in _documented(), f"evio.{name} has no '::: evio.{name}' under docs/api/"


@pytest.mark.parametrize("name", evio.datasets.__all__)
def test_dataset_name_has_reference_entry(name):
    assert f"evio.datasets.{name}" in _documented(), f"evio.datasets.{name} is missing from docs/api/datasets.md"


@pytest.mark.parametrize("path", sorted(_documented()))
def test_reference_entry_resolves(path):
    _resolve(path)


@pytest.mark.parametrize("name,obj", list(_public_callables()))
def test_public_callable_has_docstring(name, obj):
    assert (inspect.getdoc(obj) or "").strip(), f"evio.{name} has no docstring"


@pytest.mark.parametrize("name,obj", list(_public_callables()))
def test_docstring_gives_units_of_sizes_and_times(name, obj):
    if inspect.isclass(obj):
        return
    params = inspect.signature(obj).parameters
    doc = inspect.getdoc(obj)
    if "sensor_size" in params:
        assert "(W, H)" in doc and "pixels" in doc, f"evio.{name}: say sensor_size is (W, H) in pixels"
    if "duration" in params:
        assert "µs" in doc, f"evio.{name}: say duration is in µs"


@pytest.mark.parametrize("name", TENSOR_FUNCTIONS)
def test_tensor_function_docstring_gives_shape(name):
    doc = inspect.getdoc(getattr(evio, name))
    assert SHAPE.search(doc), f"evio.{name}: give the tensor shape, e.g. [T, 2, H, W]"
