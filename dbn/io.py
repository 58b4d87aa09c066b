"""Pickle-free model files.

A model file is an ``.npz`` archive read with ``allow_pickle=False``. It holds:

- ``__dbn_format__``: a 0-d unicode array with a JSON header ``{"format": "dbn", "version": N,
  "kind": ..., "params": {...}, "arrays": {name: [shape, dtype]}, ...}``;
- one plain numeric array per model parameter.

``load`` checks the header's format and version, and that the archive holds exactly the arrays the
header lists, with their shapes and dtypes, before any model is built from it. Writes are atomic: the
file is written to a temporary name beside the target, flushed with ``fsync`` and renamed, so a crash
leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_NAME = "dbn"
FORMAT_VERSION = 1
HEADER_KEY = "__dbn_format__"
_ALLOWED_DTYPES = {"float32", "float64", "int64", "int32", "uint8", "bool"}


class ModelFileError(ValueError):
    """A model file is missing, truncated, tampered with or of an unknown format."""


def atomic_write(path, write_to):
    """Write a file atomically: ``write_to(fileobj)``, fsync, then rename over ``path``.

    Parameters
    ----------
    path : str or Path
        Destination. Its folder must exist.
    write_to : callable
        Called with a binary file object open for writing.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            write_to(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # An interrupted or failed write must not leave a stray temporary file behind.
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    try:  # make the rename itself durable where the platform allows it
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def save_arrays(path, kind, params, arrays, extra=None):
    """Save named arrays and a JSON header to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    path : str or Path
    kind : str
        The model class, checked on load.
    params : dict
        JSON-serialisable hyperparameters.
    arrays : dict of str to ndarray
        Numeric arrays only.
    extra : dict, optional
        More JSON-serialisable metadata (e.g. training history).
    """
    path = _check_path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path must end in '.npz', got {str(path)!r}.")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save to {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    for name, a in arrays.items():
        if a.dtype.name not in _ALLOWED_DTYPES:
            raise TypeError(f"array {name!r} has dtype {a.dtype}, which model files do not store.")
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": kind,
        "params": params,
        "arrays": {name: [list(a.shape), a.dtype.name] for name, a in arrays.items()},
        "extra": extra or {},
    }
    payload = {HEADER_KEY: np.array(json.dumps(header, default=_json_default))}
    payload.update(arrays)
    atomic_write(path, lambda handle: np.savez(handle, **payload))


def load_arrays(path, kind=None):
    """Load and check a model file written by :func:`save_arrays`.

    Parameters
    ----------
    path : str or Path
    kind : str or tuple of str, optional
        Accepted model classes; another kind raises :class:`ModelFileError`.

    Returns
    -------
    header : dict
    arrays : dict of str to ndarray
    """
    path = _check_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"model file {str(path)!r} is a folder, not a file.")
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if HEADER_KEY not in names:
                raise ModelFileError(f"{path}: not a dbn model file (no {HEADER_KEY!r} entry).")
            header = json.loads(str(archive[HEADER_KEY]))
            _check_header(path, header, kind)
            expected = header["arrays"]
            if set(expected) != names - {HEADER_KEY}:
                raise ModelFileError(
                    f"{path}: arrays {sorted(names - {HEADER_KEY})} do not match the header's "
                    f"{sorted(expected)}; the file was tampered with or is damaged."
                )
            arrays = {}
            for name, (shape, dtype) in expected.items():
                a = archive[name]
                if list(a.shape) != list(shape) or a.dtype.name != dtype:
                    raise ModelFileError(
                        f"{path}: array {name!r} has shape {a.shape} and dtype {a.dtype}, the "
                        f"header says {tuple(shape)} and {dtype}."
                    )
                arrays[name] = a
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable or truncated model file ({exc}).") from exc
    except ValueError as exc:
        # numpy refuses object arrays when allow_pickle=False: that is a crafted or foreign file.
        raise ModelFileError(
            f"{path}: refused to load ({exc}); dbn model files never contain pickled objects."
        ) from exc
    return header, arrays


def _check_path(path):
    """``path`` as a ``Path``; a clear TypeError for anything that is not a file name."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or os.PathLike naming an '.npz' file, got {path!r} "
            f"({type(path).__name__})."
        )
    return Path(path)


def _check_header(path, header, kind):
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a dbn model file (bad header).")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path}: model file format version {version!r}; this dbn reads versions 1 to "
            f"{FORMAT_VERSION}. Upgrade dbn to read it."
        )
    for key in ("kind", "params", "arrays"):
        if key not in header:
            raise ModelFileError(f"{path}: header lacks {key!r}.")
    if kind is not None:
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        if header["kind"] not in kinds:
            raise ModelFileError(
                f"{path}: holds a {header['kind']!r}, expected {' or '.join(kinds)}."
            )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file header: {value!r}")
