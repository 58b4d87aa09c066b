"""Pickle-free model files: safetensors, and the ``.npz`` files of dbn 0.1.

Every estimator's ``save(path)`` writes the format its path's suffix names; there is no default,
and any other suffix is refused. ``.safetensors`` is the one to use: a plain safetensors file [1]_,
so PyTorch, NumPy, JAX and the Hugging Face tools read its weights
(``safetensors.torch.load_file(path)``). Its layout:

- 8 bytes: ``N``, the length of the JSON header, a little-endian unsigned 64-bit integer;
- ``N`` bytes of JSON: for each parameter array its ``dtype`` (``F32``, ``F64``, ``I64``, ...),
  ``shape`` and ``data_offsets`` in the byte buffer, and a ``__metadata__`` table of strings:
  ``format`` (``"dbn"``), ``version`` (the format version), ``kind`` (the model class),
  ``params`` (the hyperparameters, JSON), ``history`` (the per-epoch training history, JSON,
  where the model has one), ``extra`` (the rest of the fitted state, JSON) and ``dbn_version``;
- the byte buffer: the arrays, little-endian and C-ordered, one after the other.

A path ending in ``.npz`` keeps the format of dbn 0.1, which this module still writes (the
training checkpoints, ``*-checkpoint.npz``, use it) and reads: an ``.npz`` archive read with
``allow_pickle=False`` holding a JSON header in ``__dbn_format__`` and one array per parameter.

:func:`load_arrays` tells the two apart by their content, not their name, and checks the same
things in both before any model is built from a file: the format and its version, the model class,
that the stored arrays are exactly those listed, with their shapes and dtypes, that nothing is
missing (truncation), and that nothing could unpickle: a pickle, an object array or an unknown
dtype is refused without being run. Writes are atomic: the file is written to a temporary name
beside the target, flushed with ``fsync`` and renamed, so a crash leaves either the old file or
the new one, never a torn file.

The safetensors format is simple enough that dbn writes and reads it itself, with numpy only: no
compiled dependency is added for it, and the checks above give errors in dbn's terms. The test
suite checks both directions against the ``safetensors`` package.

References
----------
.. [1] Hugging Face (2022). "safetensors: simple, safe way to store and distribute tensors",
   https://github.com/huggingface/safetensors (format description in its README).
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["ModelFileError", "atomic_write", "load_arrays", "load_header", "save_arrays"]

FORMAT_NAME = "dbn"
FORMAT_VERSION = 1
HEADER_KEY = "__dbn_format__"
SUFFIX = ".safetensors"
LEGACY_SUFFIX = ".npz"
_ALLOWED_DTYPES = {"float32", "float64", "int64", "int32", "uint8", "bool"}
# numpy dtype name <-> safetensors dtype code, for the dtypes dbn stores.
_TO_SAFETENSORS = {
    "float64": "F64",
    "float32": "F32",
    "int64": "I64",
    "int32": "I32",
    "uint8": "U8",
    "bool": "BOOL",
}
_FROM_SAFETENSORS = {code: np.dtype(name) for name, code in _TO_SAFETENSORS.items()}
_METADATA_KEY = "__metadata__"
_HISTORY = "history_"  # the extra entry stored under its own "history" metadata key
# The safetensors reference implementation refuses headers over 100 MB: so does dbn.
_MAX_HEADER = 100_000_000
_ZIP_MAGIC = b"PK\x03\x04"


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
    """Save named arrays and their metadata to one model file, atomically.

    Parameters
    ----------
    path : str or Path
        Ends in ``.safetensors`` (the format other tools read) or ``.npz`` (dbn 0.1's format).
        Its folder must exist.
    kind : str
        The model class, checked on load.
    params : dict
        JSON-serialisable hyperparameters.
    arrays : dict of str to ndarray
        Numeric arrays only (float32, float64, int64, int32, uint8 or bool). Not modified.
    extra : dict, optional
        More JSON-serialisable metadata; its ``history_`` entry, the training history, is stored
        under its own metadata key in a safetensors file.

    Raises
    ------
    ValueError
        If ``path`` has another suffix, or an array is named ``__metadata__``.
    TypeError
        If ``path`` is not a path, or an array has a dtype that model files do not store.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    path = _check_path(path)
    if path.suffix not in (SUFFIX, LEGACY_SUFFIX):
        raise ValueError(
            f"path must end in {SUFFIX!r} (or {LEGACY_SUFFIX!r}, the format of dbn 0.1), got "
            f"{str(path)!r}."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save to {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    arrays = {name: np.asarray(a, order="C") for name, a in arrays.items()}
    for name, a in arrays.items():
        if a.dtype.name not in _ALLOWED_DTYPES:
            raise TypeError(
                f"array {name!r} has dtype {a.dtype}, which model files do not store; expected "
                f"one of {sorted(_ALLOWED_DTYPES)}."
            )
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": kind,
        "params": params,
        "arrays": {name: [list(a.shape), a.dtype.name] for name, a in arrays.items()},
        "extra": extra or {},
    }
    if path.suffix == LEGACY_SUFFIX:
        payload = {HEADER_KEY: np.array(_dumps(header))}
        payload.update(arrays)
        atomic_write(path, lambda handle: np.savez(handle, **payload))
        return
    if _METADATA_KEY in arrays:
        raise ValueError(f"an array cannot be named {_METADATA_KEY!r} in a safetensors file.")
    prefix, ordered = _safetensors_header(header, arrays)

    def write(handle):
        handle.write(prefix)
        for a in ordered:
            if a.size:  # a memoryview of an empty array cannot be cast to bytes
                little = a.astype(a.dtype.newbyteorder("<"), copy=False)
                handle.write(memoryview(little.reshape(-1)).cast("B"))

    atomic_write(path, write)


def feature_names_extra(estimator):
    """``{"feature_names_in_": [...]}`` for a model file's ``extra`` when ``estimator`` was fitted
    on named columns, else ``{}``; :func:`restore_feature_names` reads it back."""
    names = getattr(estimator, "feature_names_in_", None)
    return {} if names is None else {"feature_names_in_": [str(name) for name in names]}


def restore_feature_names(model, extra):
    """Set ``model.feature_names_in_`` from a model file's ``extra``, where it was saved."""
    if "feature_names_in_" in extra:
        model.feature_names_in_ = np.asarray(extra["feature_names_in_"], dtype=object)


def load_arrays(path, kind=None):
    """Load and check a model file written by :func:`save_arrays` (safetensors or ``.npz``).

    Parameters
    ----------
    path : str or Path
    kind : str or tuple of str, optional
        Accepted model classes; another kind raises :class:`ModelFileError`.

    Returns
    -------
    header : dict
        ``format``, ``version``, ``kind``, ``params``, ``arrays`` (``{name: [shape, dtype]}``) and
        ``extra`` (with the training history back under ``history_``).
    arrays : dict of str to ndarray

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        If ``path`` is not a file.
    ModelFileError
        If the file is not a dbn model file, is of a newer format version, holds another
        ``kind``, is truncated or damaged, or holds anything that could unpickle.
    """
    path, loader = _model_file_loader(path)
    return loader(path, kind)


def load_header(path, kind=None):
    """The header of a model file, checked as :func:`load_arrays` checks it, without reading the
    arrays: what a caller needs to decide before it loads a large checkpoint.

    Parameters and errors as :func:`load_arrays`, which returns the same ``header``; the arrays'
    shapes and dtypes are checked against the file's size, their bytes are not read.
    """
    path, loader = _model_file_loader(path)
    return loader(path, kind, header_only=True)[0]


def _model_file_loader(path):
    """``(Path, loader)`` for a model file: the safetensors or ``.npz`` reader, told apart by the
    file's first bytes; pickles and missing files are refused here."""
    path = _check_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"model file {str(path)!r} is a folder, not a file.")
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist.")
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic.startswith(_ZIP_MAGIC):
        return path, _load_npz
    if magic[:1] == b"\x80" and magic[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise ModelFileError(
            f"{path}: is a pickle, refused to load without running it; dbn model files never "
            f"contain pickled objects."
        )
    return path, _load_safetensors


# --------------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------------


def _safetensors_header(header, arrays):
    """The bytes before the buffer (length + JSON), and the arrays in buffer order."""
    extra = dict(header["extra"])
    metadata = {
        "format": FORMAT_NAME,
        "version": str(header["version"]),
        "kind": str(header["kind"]),
        "params": _dumps(header["params"]),
    }
    if _HISTORY in extra:
        metadata["history"] = _dumps(extra.pop(_HISTORY))
    metadata["extra"] = _dumps(extra)
    from . import __version__

    metadata["dbn_version"] = __version__
    # Widest dtypes first, so every array starts at a multiple of its item size.
    names = sorted(arrays, key=lambda name: (-arrays[name].dtype.itemsize, name))
    table, offset = {_METADATA_KEY: metadata}, 0
    for name in names:
        a = arrays[name]
        table[name] = {
            "dtype": _TO_SAFETENSORS[a.dtype.name],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
    text = json.dumps(table, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(len(text) + 8) % 8)  # pad so that the buffer starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text, [arrays[name] for name in names]


def _load_safetensors(path, kind, header_only=False):
    def damaged(problem):
        return ModelFileError(f"{path}: unreadable or truncated model file ({problem}).")

    size = path.stat().st_size
    if size < 8:
        raise damaged(f"{size} bytes, fewer than the 8 of a safetensors length prefix")
    with open(path, "rb") as handle:
        (n_header,) = struct.unpack("<Q", handle.read(8))
        if n_header > min(size - 8, _MAX_HEADER):
            raise damaged(f"the header claims {n_header} bytes, the file holds {size - 8} after 8")
        if header_only:  # the length prefix and the JSON, not the arrays' bytes
            buffer = bytearray(8) + handle.read(n_header)
            if len(buffer) != 8 + n_header:
                raise damaged("the file changed while it was read")
        else:
            handle.seek(0)
            buffer = bytearray(size)
            if handle.readinto(buffer) != size:
                raise damaged("the file changed while it was read")
    try:
        table = json.loads(bytes(buffer[8 : 8 + n_header]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path}: not a dbn model file (neither an .npz archive nor a safetensors file with a "
            f"JSON header: {exc})."
        ) from exc
    metadata = table.pop(_METADATA_KEY, None) if isinstance(table, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a dbn model file (no dbn metadata in its header).")
    if not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(f"{path}: metadata values must be strings; the header is damaged.")
    try:
        version = int(metadata.get("version", ""))
    except ValueError:
        version = metadata.get("version")
    for key in ("kind", "params"):
        if key not in metadata:
            raise ModelFileError(f"{path}: header lacks {key!r}.")
    try:
        extra = json.loads(metadata.get("extra", "{}"))
        if "history" in metadata:
            extra[_HISTORY] = json.loads(metadata["history"])
        params = json.loads(metadata["params"])
    except (json.JSONDecodeError, TypeError) as exc:
        raise damaged(f"metadata that is not JSON: {exc}") from exc
    data_start = 8 + n_header
    header = {
        "format": FORMAT_NAME,
        "version": version,
        "kind": metadata["kind"],
        "params": params,
        "arrays": {},
        "extra": extra,
    }
    _check_header(path, header, kind)

    spans, arrays = [], {}
    for name, entry in table.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise damaged(f"array {name!r} has the entry {entry!r}")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in _FROM_SAFETENSORS:
            raise ModelFileError(
                f"{path}: array {name!r} has dtype {code!r}; dbn model files hold only "
                f"{sorted(_FROM_SAFETENSORS)}, and never pickled objects."
            )
        dtype = _FROM_SAFETENSORS[code]
        if not (_is_int_list(shape) and _is_int_list(offsets) and len(offsets) == 2):
            raise damaged(f"array {name!r} has shape {shape!r} and offsets {offsets!r}")
        begin, end = offsets
        if end - begin != math.prod(shape) * dtype.itemsize:
            raise damaged(
                f"array {name!r} of shape {tuple(shape)} and dtype {dtype} spans {end - begin} "
                f"bytes, not {math.prod(shape) * dtype.itemsize}"
            )
        spans.append((begin, end, name))
        if data_start + end > size:
            raise damaged(
                f"truncated: array {name!r} ends at byte {data_start + end}, the file has {size}"
            )
        header["arrays"][name] = [list(shape), dtype.name]
        if header_only:
            continue
        count = math.prod(shape)
        little = dtype.newbyteorder("<")
        arrays[name] = (
            np.frombuffer(buffer, dtype=little, count=count, offset=data_start + begin)
            if count
            else np.empty(0, dtype=little)
        ).reshape(shape)
    # The arrays must tile the buffer exactly: no gap, no overlap, nothing missing or left over.
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise damaged(f"array {name!r} starts at byte {begin} of the buffer, not {position}")
        position = end
    if position != size - data_start:
        problem = "truncated" if position > size - data_start else "has trailing bytes"
        raise damaged(
            f"{problem}: the arrays need {position} bytes, the file has {size - data_start}"
        )
    return header, {
        name: a.astype(a.dtype.newbyteorder("="), copy=False) for name, a in arrays.items()
    }


def _is_int_list(value):
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )


# --------------------------------------------------------------------------------------------------
# .npz (dbn 0.1)
# --------------------------------------------------------------------------------------------------


def _load_npz(path, kind, header_only=False):
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
            # np.load reads a member only when it is indexed: the header alone reads no array.
            for name, (shape, dtype) in ({} if header_only else expected).items():
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


# --------------------------------------------------------------------------------------------------
# Shared checks
# --------------------------------------------------------------------------------------------------


def _check_path(path):
    """``path`` as a ``Path``; a clear TypeError for anything that is not a file name."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or os.PathLike naming a {SUFFIX!r} (or {LEGACY_SUFFIX!r}) file, "
            f"got {path!r} ({type(path).__name__})."
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


def _dumps(value):
    return json.dumps(value, default=_json_default)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a model file header: {value!r}")
