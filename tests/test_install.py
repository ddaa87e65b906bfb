"""Installing evio anywhere: no writable Numba cache, the build floor, the sdist's contents."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

import evio

ROOT = Path(__file__).resolve().parent.parent

# Imports evio from the working directory, runs one kernel and prints every warning as JSON.
RUN_ONE_KERNEL = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import evio
    ev = evio.empty_events(3)
    ev["t"], ev["x"], ev["y"], ev["p"] = [0, 1, 1], [0, 1, 2], [1, 0, 1], [True, False, True]
    dense = evio.to_dense(ev, (3, 2), T=2, channels="on_off")
print(json.dumps({"file": evio.__file__, "set": int(dense.sum()),
                  "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}))
"""


def _run_one_kernel(cwd: Path, **env) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUN_ONE_KERNEL], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": "", **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert Path(out["file"]).is_relative_to(cwd), out["file"]
    assert out["set"] == 3
    out["numba_warnings"] = [w for w in out["warnings"] if "Numba" in w]
    return out


def _copy_package(dest: Path) -> Path:
    shutil.copytree(Path(evio.__file__).parent, dest / "evio", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "evio"


def test_import_without_a_writable_numba_cache_runs_uncached_with_one_warning(tmp_path):
    """Every place Numba may cache in is blocked by a file where it needs a directory (root ignores
    permission bits): the package's ``__pycache__``, ``NUMBA_CACHE_DIR`` and the user cache dir."""
    site = tmp_path / "site"
    package = _copy_package(site)
    (package / "kernels" / "__pycache__").write_text("not a directory")
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    out = _run_one_kernel(site, NUMBA_CACHE_DIR=str(blocker / "numba"), XDG_CACHE_HOME=str(blocker),
                          HOME=str(blocker))
    assert len(out["numba_warnings"]) == 1, out["warnings"]
    assert "NUMBA_CACHE_DIR" in out["numba_warnings"][0]


def test_numba_cache_dir_is_used_and_emptied_when_the_ir_helpers_change(tmp_path):
    site = tmp_path / "site"
    package = _copy_package(site)
    cache = tmp_path / "numba-cache"
    out = _run_one_kernel(site, NUMBA_CACHE_DIR=str(cache))
    assert out["numba_warnings"] == []
    (index,) = cache.rglob("dense.events_to_dense-*.nbi")
    stale = index.with_name("aer.aedat2_decode-29.py311.nbi")
    stale.write_bytes(b"built with the old helpers")
    with open(package / "kernels" / "_llvm.py", "a") as helpers:
        helpers.write("# changed\n")
    _run_one_kernel(site, NUMBA_CACHE_DIR=str(cache))
    assert not stale.exists()



def test_every_kernel_compiles_through_the_one_decorator():
    """``evio.kernels.njit`` alone decides on caching: a kernel that Numba decorates directly would
    crash the import again where no cache directory is writable."""
    package = Path(evio.__file__).parent
    numba_jit = re.compile(r"numba\.\w*jit\b|from numba import .*jit")
    direct = [f"{path.relative_to(package)}:{n}"
              for path in package.rglob("*.py") if path != package / "kernels" / "__init__.py"
              for n, line in enumerate(path.read_text().splitlines(), 1) if numba_jit.search(line)]
    assert direct == []

# --- packaging ---------------------------------------------------------------------------------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Paths never worth copying into a build: VCS data, environments, caches and build outputs.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "*.py[cod]", "*.nbi", "*.nbc", "*.egg-info",
                                    "build", "dist", ".pytest_cache", ".hypothesis", "demo-output", "bench-data")


def _setuptools_floor() -> tuple[int, ...]:
    (spec,) = [r for r in PYPROJECT["build-system"]["requires"] if re.match(r"setuptools\b", r)]
    floor = re.fullmatch(r"setuptools\s*>=\s*([\d.]+)", spec)
    assert floor, f"build-system requires {spec!r}: expected a plain >= floor"
    return tuple(int(part) for part in floor[1].split("."))


def test_setuptools_floor_reads_the_license_metadata():
    """setuptools < 77 rejects ``license`` as an SPDX string and ``license-files`` (PEP 639)."""
    project = PYPROJECT["project"]
    if isinstance(project.get("license"), str) or "license-files" in project:
        assert _setuptools_floor() >= (77,)


def _sdist_names(source: Path) -> set[str]:
    """Paths in the sdist built from ``source``, relative to its top folder."""
    build = "from setuptools import build_meta; print(build_meta.build_sdist('dist'))"
    proc = subprocess.run([sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with tarfile.open(source / "dist" / proc.stdout.splitlines()[-1]) as tar:
        return {name.partition("/")[2] for name in tar.getnames()}


def test_sdist_ships_the_tests_and_everything_they_read(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if tuple(int(part) for part in re.findall(r"\d+", setuptools.__version__)[:2]) < _setuptools_floor():
        pytest.skip(f"setuptools {setuptools.__version__} is below the build floor")
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    shipped = _sdist_names(source)
    needed = {p.relative_to(source).as_posix()
              for folder in ("tests", "fixtures") for p in (source / folder).rglob("*") if p.is_file()}
    assert {"tests/conftest.py", "tests/_sj.py", "fixtures/SOURCES.md"} <= needed
    assert needed - shipped == set(), "files the tests read are missing from the sdist"


def test_minimal_suite_pins_every_declared_floor():
    """``make test-minimal`` (run by .ci/run) tests the floors that pyproject.toml declares, no other."""
    makefile = ROOT / "Makefile"
    if not makefile.is_file():
        pytest.skip("no Makefile (an unpacked sdist)")
    (line,) = re.findall(r"^MINIMAL_DEPS := (.*)$", makefile.read_text(), re.M)
    pinned = dict(re.findall(r"'([\w-]+)==([\d.]+)\.\*'", line))
    declared = dict(re.fullmatch(r"([\w-]+)>=([\d.]+)", dep).groups() for dep in PYPROJECT["project"]["dependencies"])
    assert pinned == declared
