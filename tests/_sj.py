"""Import SpikingJelly 2.0's dataset helpers as test oracles.

SpikingJelly's `datasets` package imports torchvision and torchaudio at module level although the
functions used as oracles here (frame integration, AEDAT loaders, collate) need neither. Beside the
CPU build of torch those two cannot be installed, so missing ones are replaced by inert stubs.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
import types


_STUBBED = {"torchvision", "torchaudio"}


class _Anything(types.ModuleType):
    """Module stand-in whose every attribute is a dummy class or submodule."""

    __path__: list = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (), {"__init__": lambda self, *a, **k: None})
        setattr(self, name, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Anything(spec.name)

    def exec_module(self, module):
        pass


def load_spikingjelly_datasets():
    """Return `spikingjelly.datasets`, or None when SpikingJelly or torch is absent."""
    try:
        import torch  # noqa: F401
        importlib.import_module("spikingjelly")
    except Exception:
        return None
    missing = set()
    for name in _STUBBED:
        try:
            importlib.import_module(name)
        except Exception:
            missing.add(name)
    if missing and not any(isinstance(f, _StubFinder) for f in sys.meta_path):
        for name in [m for m in sys.modules if m.split(".")[0] in missing]:
            del sys.modules[name]
        sys.meta_path.insert(0, _StubFinder(missing))
    return importlib.import_module("spikingjelly.datasets")
