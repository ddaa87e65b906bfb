"""Warnings attributed to the first caller outside evio."""

from __future__ import annotations

import os
import sys
import warnings

from .errors import LossWarning

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_loss(message: str) -> None:
    """Issue a :class:`LossWarning` attributed to the first caller outside evio."""
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, LossWarning, stacklevel=level)
