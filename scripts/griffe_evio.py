"""Griffe extension for ``make docs``: reads evio's docstrings as they are written.

- Sphinx roles (``:func:`frames```, ``:class:`~evio.formats.base.EventReader```) become links to the
  API reference where the target is documented there, and plain code otherwise (never a warning).
- ``#:`` comments above a module or class attribute become its docstring.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:func|meth|class|data|attr|mod|exc|obj):`(~?)([\w.]+)`")


class EvioDocstrings(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._visit(pkg, set())

    def _visit(self, obj: griffe.Object, seen: set) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.is_attribute and obj.docstring is None:
            comment = _comment_above(obj)
            if comment:
                obj.docstring = griffe.Docstring(comment, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(lambda m: _link(obj, m[1], m[2]), obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._visit(member, seen)


def _comment_above(attr: griffe.Object) -> str:
    lines = attr.module.lines if attr.lineno else []
    out = []
    i = (attr.lineno or 0) - 2
    while 0 <= i < len(lines) and lines[i].lstrip().startswith("#:"):
        out.insert(0, lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(out)


def _link(obj: griffe.Object, short: str, name: str) -> str:
    shown = name.rsplit(".", 1)[-1] if short else name
    target = re.sub(r"^evio\.i2e\.", "evio.image.i2e.", name)  # ``i2e.preprocess`` etc. hang on the function
    if not name.startswith("evio."):
        scope = obj if obj.is_class or obj.is_module else obj.parent
        try:
            target = scope.resolve(name)
        except Exception:
            target = ""
    if not target:
        return f"`{shown}`"
    return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'
