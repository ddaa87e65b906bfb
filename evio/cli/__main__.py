"""``python -m evio.cli``: the ``evio`` command."""

from . import main

main()
