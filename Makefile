PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The suite again with only the required dependencies, each at its declared floor: optional features skip.
MINIMAL := .venv-minimal
MINIMAL_STAMP := $(MINIMAL)/.installed-stamp
MINIMAL_DEPS := 'numpy==1.26.*' 'numba==0.59.*' 'h5py==3.10.*' 'zarr==3.0.*' 'click==8.2.*' 'pytest>=8' 'hypothesis>=6.100'

.PHONY: demo test test-minimal test-kernel-variants bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'spikingjelly==2.0.0'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

$(MINIMAL_STAMP): pyproject.toml
	$(PYTHON) -m venv $(MINIMAL)
	$(MINIMAL)/bin/python -m pip install --quiet --disable-pip-version-check $(MINIMAL_DEPS)
	$(MINIMAL)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(MINIMAL_STAMP)

# Its own Numba cache: another Numba version would overwrite the kernels cached by `make test`.
test-minimal: $(MINIMAL_STAMP)
	NUMBA_CACHE_DIR=$(CURDIR)/$(MINIMAL)/numba-cache $(MINIMAL)/bin/python -m pytest -q

# The kernel tests twice more: with llvmlite's typed pointers off, in a fresh Numba cache of its own (so
# the LLVM IR is compiled anew, and `make test`'s cache is left alone), and with EVIO_SCALAR_KERNELS=1
# (chosen in Python, not compiled in: it shares `make test`'s cache).
KERNEL_TESTS := tests/test_kernels.py tests/test_frames.py tests/test_prophesee.py tests/test_aedat23_nmnist.py
OPAQUE_CACHE := $(CURDIR)/$(VENV)/numba-cache-opaque-pointers
test-kernel-variants: $(STAMP)
	rm -rf $(OPAQUE_CACHE)
	LLVMLITE_ENABLE_IR_LAYER_TYPED_POINTERS=0 NUMBA_CACHE_DIR=$(OPAQUE_CACHE) $(BIN)/python -m pytest -q $(KERNEL_TESTS)
	EVIO_SCALAR_KERNELS=1 $(BIN)/python -m pytest -q $(KERNEL_TESTS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.stores

DOCS_STAMP := $(VENV)/.docs-stamp
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,docs]'
	touch $(DOCS_STAMP)

# The API reference beside the pages of docs/, into site/; --strict: any warning (a broken link or
# anchor, a `:::` entry that does not resolve) fails the build.
docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) $(MINIMAL) demo-output site .pytest_cache .hypothesis
