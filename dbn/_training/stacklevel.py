"""Warnings that point at the user's line, not into dbn."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1]) + os.sep


def external_stacklevel():
    """The ``stacklevel`` that makes ``warnings.warn`` point at the first frame outside dbn.

    Called from the function that warns: level 1 is that function, level 2 its caller, and so on.
    Frames of dbn's own files are skipped however deep the call chain is, so a warning raised in
    the engine names the line of the user's code that called ``fit``.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
        _PACKAGE_DIR
    ):
        frame = frame.f_back
        level += 1
    return level
