import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import evio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

settings.register_profile(
    "default", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "ci", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

INT64 = np.iinfo(np.int64)


@st.composite
def event_arrays(draw, max_size=60, sorted_t=None, t_min=INT64.min, t_max=INT64.max):
    """Any valid events: empty, single, max coordinates, duplicate and (optionally) unsorted timestamps."""
    n = draw(st.integers(0, max_size))
    narrow = draw(st.booleans())
    if narrow:
        base = draw(st.integers(max(t_min, -(1 << 40)), min(t_max - 50, 1 << 40)))
        t = draw(st.lists(st.integers(base, base + 50), min_size=n, max_size=n))
    else:
        t = draw(st.lists(st.integers(t_min, t_max), min_size=n, max_size=n))
    if sorted_t is None:
        sorted_t = draw(st.booleans())
    if sorted_t:
        t = sorted(t)
    coord = st.one_of(st.integers(0, 65535), st.sampled_from([0, 65535]))
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = draw(st.lists(coord, min_size=n, max_size=n))
    ev["y"] = draw(st.lists(coord, min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return ev


def random_events(n, seed=0, sensor=(1280, 720), sorted_t=True, t0=1_000_000, rate_us=0.1):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, dtype=evio.EVENT_DTYPE)
    steps = rng.poisson(rate_us, n) if sorted_t else rng.integers(0, 1000, n)
    ev["t"] = t0 + np.cumsum(steps) if sorted_t else t0 + steps
    ev["x"] = rng.integers(0, sensor[0], n)
    ev["y"] = rng.integers(0, sensor[1], n)
    ev["p"] = rng.random(n) < 0.5
    return ev


@pytest.fixture
def fixtures_dir():
    return FIXTURES


def tree_bytes(path: Path) -> dict:
    """``{relative path: bytes}`` of every file under ``path``."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def photo_crops(path: Path, n: int, seed: int = 15) -> Path:
    """``n`` 32 x 32 RGB crops of the fixture photos, with labels ``k % 10``, saved as the .npz ``path``."""
    from PIL import Image

    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((FIXTURES / "images").glob("*.png"))]
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        photo = photos[k % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - 32), rng.integers(0, photo.shape[1] - 32)
        out.append(photo[y:y + 32, x:x + 32])
    np.savez(path, images=np.stack(out), labels=np.arange(n) % 10)
    return path
