"""Warnings that point at the user's line, not into dbn: :func:`external_stacklevel` lives in
:mod:`dbn._validation` (the bottom layer); the engine modules import it from here."""

from __future__ import annotations

from .._validation import external_stacklevel

__all__ = ["external_stacklevel"]
