"""The ``evio`` command line: the group and its error handling in ``_app``, one module per command."""

from __future__ import annotations

import os
import sys

try:
    from . import convert, convert_many, dataset, formats, i2e, info, render
    from ._app import main
except KeyboardInterrupt:
    # Ctrl-C while the ``evio`` command loads its modules: one line, as at any other time.
    if os.path.basename(sys.argv[0]) not in ("evio", "evio.exe", "__main__.py"):
        raise
    sys.stderr.write("evio: interrupted\n")
    raise SystemExit(130) from None

main.add_command(convert.convert)
main.add_command(convert_many.convert_many)
main.add_command(info.info)
main.add_command(formats.formats_command)
main.add_command(dataset.dataset)
main.add_command(render.render)
main.add_command(i2e.i2e_command)

__all__ = ["main"]
