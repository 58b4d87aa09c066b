"""Atomic per-epoch checkpoint files that know which data and hyperparameters they belong to.

Every estimator that takes ``checkpoint_dir`` goes through :class:`CheckpointFile`:

- the folder is created, and temporary files left by a write that was killed are removed (the
  checkpoint itself is whole: :func:`dbn.io.atomic_write` renames a finished file into place);
- a checkpoint already there is read and checked before anything resumes from it: it must have
  been written by the same kind of estimator, with the same hyperparameters (``verbose`` aside),
  and for the same training data, compared by a fingerprint (shape, dtype and CRC-32 of the bytes)
  of every array training reads. A mismatch is refused with a ValueError that says what differs;
- writes store that fingerprint with the state, so the next run can check it.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import numpy as np

from .. import io

__all__ = ["CheckpointFile", "fingerprints", "as_json"]

_ADVICE = "use another checkpoint_dir or delete the file"


def _crc(array, crc=0):
    array = np.ascontiguousarray(array)
    return zlib.crc32(memoryview(array).cast("B"), crc)


def fingerprints(data):
    """``{name: [shape, dtype, crc32]}`` of the arrays a fit reads; ``None`` entries are skipped.

    Sparse matrices are fingerprinted through their CSR arrays (values, column indices, row
    pointers), so the same matrix in any sparse format gives the same fingerprint.
    """
    out = {}
    for name, a in data.items():
        if a is None:
            continue
        if hasattr(a, "tocsr"):
            csr = a.tocsr()
            csr.sort_indices()
            crc = _crc(csr.indptr.astype(np.int64), _crc(csr.indices.astype(np.int64)))
            out[name] = [list(csr.shape), "sparse" + csr.dtype.str, _crc(csr.data, crc)]
            continue
        a = np.ascontiguousarray(a)
        out[name] = [list(a.shape), a.dtype.str, _crc(a)]
    return out


def as_json(value):
    """``value`` as a JSON header stores it, for comparing parameters with a stored header."""

    def default(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        raise TypeError(f"cannot store {type(v).__name__} in a checkpoint header: {v!r}")

    return json.loads(json.dumps(value, default=default))


class CheckpointFile:
    """The checkpoint file of one training run.

    Parameters
    ----------
    checkpoint_dir : str or os.PathLike
        Folder of the checkpoint (created if missing).
    name : str
        File name, e.g. ``"mlp-checkpoint.npz"``.
    kind : str
        Kind stored in (and required from) the file's header, e.g. ``"MLPClassifier-checkpoint"``.
    data : dict of str to array or None
        The arrays training reads (``X``, ``y``, ``X_val``...), fingerprinted.

    Attributes
    ----------
    path : Path
    arrays, extra : dict or None
        What the file held when :meth:`load` found one (``None`` otherwise).
    """

    def __init__(self, checkpoint_dir, name, kind, data):
        if not isinstance(checkpoint_dir, str | os.PathLike):
            raise TypeError(
                f"checkpoint_dir must be a str or os.PathLike naming a folder, got "
                f"{checkpoint_dir!r} ({type(checkpoint_dir).__name__})."
            )
        folder = Path(checkpoint_dir)
        folder.mkdir(parents=True, exist_ok=True)
        # A process killed mid-write leaves its temporary file; the checkpoint itself is whole.
        for stale in folder.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)
        self.path = folder / name
        self.kind = kind
        self.data = fingerprints(data)
        self.arrays = self.extra = None
        self.params = None

    @property
    def resuming(self):
        """True when :meth:`load` found a checkpoint to resume from."""
        return self.arrays is not None

    @property
    def finished(self):
        """True when the stored run had finished (its last epoch was written with finished=True)."""
        return bool(self.resuming and self.extra["checkpoint"].get("finished") is True)

    def load(self, params, *, owner):
        """Read and check the checkpoint left in the folder, if any; returns :attr:`resuming`.

        Parameters
        ----------
        params : dict
            The hyperparameters of the run about to start, as the header stores them.
        owner : str
            The estimator's class name, for messages.

        Raises
        ------
        ValueError
            When the checkpoint was written with other hyperparameters or for other data.
        dbn.io.ModelFileError
            When the file is damaged or lacks the record of its data.
        """
        path = self.path
        if not path.exists():
            return False
        header, arrays = io.load_arrays(path, kind=self.kind)
        saved, mine = header["params"], as_json(params)
        different = sorted(
            k for k in set(saved) | set(mine) if k != "verbose" and saved.get(k) != mine.get(k)
        )
        if different:
            raise ValueError(
                f"checkpoint {path} was written by a {owner} with other parameters "
                f"({', '.join(f'{k}={saved.get(k)!r}' for k in different)}); {_ADVICE}."
            )
        extra = header.get("extra", {})
        record = extra.get("checkpoint")
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            raise io.ModelFileError(f"{path}: lacks the record of the data it was trained on.")
        stored = record["data"]
        for key in sorted(set(stored) | set(self.data)):
            if key not in stored or key not in self.data:
                how = "with" if key in stored else "without"
                raise ValueError(f"checkpoint {path} was written {how} {key}; {_ADVICE}.")
            (shape, dtype, crc), (my_shape, my_dtype, my_crc) = stored[key], self.data[key]
            if shape != my_shape:
                raise ValueError(
                    f"checkpoint {path} was written for {key} of shape {tuple(shape)}, got "
                    f"{tuple(my_shape)}; {_ADVICE}."
                )
            if dtype != my_dtype or crc != my_crc:
                raise ValueError(
                    f"checkpoint {path} was written for other values of {key} (same shape); "
                    f"{_ADVICE}."
                )
        self.params, self.arrays, self.extra = saved, arrays, extra
        return True

    def write(self, params, arrays, extra, *, finished):
        """Write the training state atomically, with the data fingerprint and the finished flag."""
        extra = dict(extra)
        extra["checkpoint"] = {"data": self.data, "finished": bool(finished)}
        io.save_arrays(self.path, self.kind, params, arrays, extra)
