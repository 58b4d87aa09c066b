"""Out-of-core pretraining on one machine: a DBN trained from an array larger than memory.

:func:`pretrain_out_of_core` reads an on-disk array (``.npy`` file, ``np.memmap``, or a dask array
over zarr, HDF5...) one chunk of rows at a time, and writes each layer's features to disk in
chunks, never held whole. It needs neither dask nor a cluster (a dask array is computed chunk by
chunk in this process, with dask's synchronous scheduler), and this module does not import dask.
For training on a cluster, see :mod:`dbn.dask`.

References
----------
Hinton, G. E., Osindero, S., & Teh, Y.-W. (2006). A fast learning algorithm for deep belief nets.
Neural Computation 18(7).
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
"""

from __future__ import annotations

import numbers
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ._cd import OFFSET_ROWS, ContrastiveDivergence
from ._drivers import (
    LayerCallbacks,
    Publishing,
    check_options,
    float_dtype,
    gaussian_visible,
    initial_rbm_parameters,
    parameter_names,
    rbm_config,
    rbm_features,
    rbm_monitor,
    set_rbm,
    shard_seeds,
    warn_if_unscaled,
    warn_out_of_range,
)
from ._rbm_trainer import raise_if_blown_up, report_epoch, warn_if_collapsed
from ._training.callbacks import CallbackList
from ._training.loop import EpochTrainer, run_epochs
from ._validation import DivergenceError, check_scalar, std_from_moments

__all__ = ["pretrain_out_of_core"]

# Bytes of input per chunk when ``chunk_size`` is not given: small next to any machine's memory,
# large enough that reading a chunk costs little next to training on it.
_CHUNK_BYTES = 32 * 2**20


def pretrain_out_of_core(dbn, X, *, chunk_size=None, feature_dir=None, dtype=None, callbacks=None):
    """Pretrain a DBN on an on-disk array larger than memory, one chunk of rows at a time.

    Every layer trains with its own CD step (:class:`dbn._cd.ContrastiveDivergence` built from the
    layer's ``cd_config()``, every option honoured as by ``fit``) over chunks of
    ``chunk_size`` rows read from disk (chunks in a random order each epoch, rows shuffled within
    each chunk); the features of layer ``k`` are computed chunk by chunk and appended to a ``.npy``
    file, from which layer ``k + 1`` reads in turn. Neither the data nor any layer's features are
    ever held whole, and ``.npy`` files and whole-file ``np.memmap`` arrays are read with plain file
    reads, so the process's memory (and even its address space) is bounded by the chunk size and
    the model, not by the data: ``benchmarks/bench_dask.py`` and the test suite run it in a process
    whose address space is capped below the size of its data.

    Needs neither dask nor a cluster (a dask array input is computed chunk by chunk in this
    process).

    Parameters
    ----------
    dbn : dbn.DBN
        Its layers' hyperparameters define the training; fitted in place.
    X : str or os.PathLike (a ``.npy`` file), np.memmap, dask.array.Array, or an array that slices
        by rows (zarr, h5py, ndarray) of shape (n_samples, n_features)
        In [0, 1] for Bernoulli visible units (other values are used as given, with the
        :class:`dbn.DataRangeWarning` of an in-process fit); never modified.
    chunk_size : int, optional
        Rows per chunk; by default about 32 MiB of the widest layer input, a multiple of the
        largest ``batch_size``.
    feature_dir : str or os.PathLike, optional
        Folder for the layers' feature files (``layer<k>.npy``, kept); by default a temporary
        folder, removed at the end. Needs ``n_samples * n_hidden * itemsize`` bytes per layer.
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the model; by default that of ``X`` if it is a float, else float64.
    callbacks : callable, dbn.Callback or list of them, optional
        Called as ``callback(dbn, epoch, logs)`` after every epoch of every layer, with
        ``logs["layer"]``; a truthy return ends the current layer.

    Returns
    -------
    dbn
        With ``layers_``, ``n_features_in_`` and ``pretrain_time_``.

    References
    ----------
    Hinton, G. E., Osindero, S., & Teh, Y.-W. (2006). A fast learning algorithm for deep belief
    nets. Neural Computation 18(7).
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.
    """
    from .stack import DBN, resolve_auto_centering, resolve_auto_epochs

    if not isinstance(dbn, DBN):
        raise TypeError(f"dbn must be a dbn.DBN, got {type(dbn).__name__}.")
    source = _RowSource(X, "X")
    if dtype is None:
        dtype = float_dtype(source.stored_dtype)
    elif np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    dtype = np.dtype(dtype)
    layers = dbn._make_layers(source.shape[1])
    for rbm in layers:  # every layer's options, before the first trains
        check_options(rbm, "out of core")
    widest = max([source.shape[1]] + [rbm.n_components for rbm in layers[:-1]])
    batch = max(rbm.batch_size for rbm in layers)
    if chunk_size is None:
        chunk_rows = max(1, _CHUNK_BYTES // (widest * dtype.itemsize) // batch) * batch
    else:
        check_scalar(chunk_size, "chunk_size", kind=numbers.Integral, low=1)
        chunk_rows = int(chunk_size)
    chunk_rows = min(chunk_rows, source.n_rows)
    callbacks = CallbackList(callbacks)
    temporary = None
    if feature_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="dbn-features-")
        folder = Path(temporary.name)
    else:
        if not isinstance(feature_dir, str | os.PathLike):
            raise TypeError(
                f"feature_dir must be a str or os.PathLike naming a folder, got "
                f"{type(feature_dir).__name__}."
            )
        folder = Path(feature_dir)
        folder.mkdir(parents=True, exist_ok=True)
    dbn.n_features_in_ = source.shape[1]
    dbn.layers_, dbn.pretrain_time_ = [], []
    try:
        for i, rbm in enumerate(layers):
            start = time.perf_counter()
            if rbm.batch_size > source.n_rows:
                raise ValueError(
                    f"batch_size={rbm.batch_size} of layer {i} is larger than the number of "
                    f"samples ({source.n_rows})."
                )
            gaussian = gaussian_visible(rbm)
            value_range = None if gaussian else (0.0, 1.0)
            mean, std = _stream_summary(source, chunk_rows, dtype, value_range)
            warn_if_unscaled(rbm, std, source.name, in_dbn=True)
            resolve_auto_centering(rbm, mean)  # centering="auto"
            resolve_auto_epochs(rbm, source.n_rows)  # n_iter="auto"
            params = initial_rbm_parameters(rbm, mean, dtype)
            rng = np.random.default_rng(shard_seeds(rbm.random_state, 1)[0])
            trainer = _OutOfCoreRBM(rbm, source, chunk_rows, dtype, params, mean, rng)
            trainer.label = f"DBN layer {i + 1}/{len(layers)}"
            history = {key: [] for key in rbm.history_keys}
            layer_callback = LayerCallbacks(dbn, i, callbacks)
            if i == 0:
                callbacks.on_train_begin(dbn)

            def publish(n_epochs, trainer=trainer, history=history, rbm=rbm, n=source.shape[1]):
                set_rbm(
                    rbm, trainer.cd.parameters, n, n_epochs, history,
                    trainer.cd.get_state(),
                )  # fmt: skip

            result = run_epochs(
                rbm,
                Publishing(trainer, publish),
                range(rbm.n_iter),
                history=history,
                callbacks=CallbackList([layer_callback]),
                progress=f"{type(rbm).__name__}({rbm.n_components}) out of core",
                progress_key="reconstruction_error",
                verbose=rbm.verbose,
            )
            publish(len(history["epoch"]))
            monitor = trainer.monitor
            del trainer
            dbn.layers_.append(rbm)
            dbn.pretrain_time_.append(time.perf_counter() - start)
            if result.interrupted:
                break  # the loop has warned; the finished layers are kept
            # The check of an in-process fit, on the monitored rows; a collapsed layer warns by
            # its number, since the layers above learn from its features.
            mean_error = (
                0.0 if monitor is None else float(monitor.var(axis=0, dtype=np.float64).sum())
            )
            warn_if_collapsed(rbm, monitor, mean_error, layer=i, n_layers=len(layers))
            if i + 1 < len(layers):
                source = _write_features(
                    rbm, source, chunk_rows, dtype, folder / f"layer{i + 1}.npy"
                )
    finally:
        callbacks.on_train_end(dbn)
        if temporary is not None:
            temporary.cleanup()
    return dbn


class _OutOfCoreRBM(EpochTrainer):
    """Epochs of CD over a :class:`_RowSource`, one chunk in memory at a time.

    Each epoch visits the chunks in a random order and the rows of each chunk in a random order
    (the whole data set is never shuffled at once: a standard approximation of a full shuffle for
    data on disk, exact when there is one chunk).
    """

    def __init__(self, rbm, source, chunk_rows, dtype, params, mean, rng):
        self.rbm, self.source, self.chunk_rows, self.dtype = rbm, source, chunk_rows, dtype
        self.label = type(rbm).__name__  # who trains, in the verbose lines
        self.config = rbm_config(rbm, rbm.batch_size, path="out of core")
        self.cd = ContrastiveDivergence(params, **self.config)
        self.rng = rng
        n_monitor = min(rbm.monitor_size, source.n_rows)
        self.monitor = source.read(0, n_monitor, dtype) if n_monitor else None
        if self.cd.persistent:
            first = source.read(0, min(chunk_rows, source.n_rows), dtype)
            self.cd.start_chains(first, rng)
        if self.cd.centering:
            # The offsets an in-process fit starts from: the data's mean, and the hidden means of
            # its first rows.
            first = source.read(0, min(OFFSET_ROWS, source.n_rows), dtype)
            self.cd.start_offsets(first, visible_mean=mean)

    def run_epoch(self, epoch):
        rbm, cd, rng = self.rbm, self.cd, self.rng
        lr, momentum = rbm.schedule(epoch)
        starts = _chunk_starts(self.source.n_rows, self.chunk_rows)
        if rbm.shuffle:
            starts = [starts[i] for i in rng.permutation(len(starts))]
        for start in starts:
            block = self.source.read(start, min(start + self.chunk_rows, self.source.n_rows),
                                     self.dtype)  # fmt: skip
            order = rng.permutation(block.shape[0]) if rbm.shuffle else np.arange(block.shape[0])
            diverged = cd.run_epoch(block, order, lr, momentum, rng)
            del block
            if diverged:
                raise DivergenceError(
                    f"{type(rbm).__name__} diverged in epoch {epoch + 1} (rows {start} onwards): "
                    f"the weights became NaN or inf. Use a smaller learning_rate (got {lr:g}) or "
                    f"momentum; the model keeps the parameters of the last completed epoch "
                    f"({epoch})."
                )
        logs = {"learning_rate": lr, "momentum": momentum}
        if self.monitor is not None:
            error, count, squares = rbm_monitor(
                cd.parameters, self.monitor, self.config, len(self.monitor)
            )
            logs["reconstruction_error"] = error / count
            raise_if_blown_up(
                self.label, error / count, squares / count, epoch, lr, " (out of core)"
            )
        return logs

    def report(self, completed, logs):
        report_epoch(self.label, self.rbm.verbose, logs)

    def snapshot(self):
        params = {name: p.copy(order="K") for name, p in self.cd.parameters.items()}
        return params, self.cd.get_state(), self.rng.bit_generator.state

    def restore(self, snapshot):
        params, state, rng_state = snapshot
        for name, value in params.items():
            self.cd.parameters[name][...] = value
        self.cd.set_state(state)
        self.rng.bit_generator.state = rng_state


def _write_features(rbm, source, chunk_rows, dtype, path):
    """``rbm``'s hidden means of every row of ``source``, appended to ``path`` chunk by chunk."""
    params = {name: getattr(rbm, name) for name in parameter_names(rbm)}
    writer = _NpyWriter(path, (source.n_rows, rbm.n_components), dtype)
    try:
        for start in _chunk_starts(source.n_rows, chunk_rows):
            block = source.read(start, min(start + chunk_rows, source.n_rows), dtype)
            writer.write(rbm_features(block, params, rbm.hidden_unit))
    finally:
        writer.close()
    previous = source.path
    new = _RowSource(path, f"the features of layer {path.stem[len('layer') :]}")
    if (
        previous is not None
        and previous.parent == path.parent
        and previous.name.startswith("layer")
    ):
        previous.unlink(missing_ok=True)  # the layer below is trained: its input is not needed
    return new


class _RowSource:
    """Rows of a 2-D array read one block at a time, without holding (or mapping) the whole array.

    ``.npy`` files, and ``np.memmap`` arrays over a whole file, are read with plain file reads, so
    that neither the resident memory nor the address space of the process grows with the data;
    dask arrays are computed block by block with the synchronous scheduler; anything else that
    slices like an array (an ndarray, a zarr or h5py array) is sliced.
    """

    def __init__(self, X, name):
        self.name = name
        self.path = self.offset = self.array = None
        self.is_dask = False
        if isinstance(X, str | os.PathLike):
            self._open_npy(Path(X))
        elif isinstance(X, np.memmap) and _whole_file_memmap(X):
            self.path, self.offset = Path(X.filename), int(X.offset)
            self.shape, self.stored_dtype = tuple(X.shape), X.dtype
        elif hasattr(X, "shape") and hasattr(X, "dtype") and hasattr(X, "__getitem__"):
            self.array = X
            self.shape, self.stored_dtype = tuple(X.shape), np.dtype(X.dtype)
            self.is_dask = type(X).__module__.startswith("dask.")
        else:
            raise TypeError(
                f"{name} must be a path to a .npy file, an np.memmap, a dask array or an array "
                f"that slices by rows (zarr, h5py, ndarray), got {type(X).__name__}."
            )
        if len(self.shape) != 2 or self.shape[0] < 1:
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features) with at least one row, got shape "
                f"{self.shape}."
            )
        if not np.issubdtype(self.stored_dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {self.stored_dtype}.")

    def _open_npy(self, path):
        if path.suffix != ".npy" or not path.is_file():
            raise ValueError(f"X must name an existing .npy file, got {str(path)!r}.")
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
        if fortran:
            raise ValueError(
                f"{path} stores a Fortran-ordered array; rows cannot be read one block at a time. "
                "Save it C-ordered (np.ascontiguousarray)."
            )
        self.path, self.offset = path, offset
        self.shape, self.stored_dtype = tuple(shape), np.dtype(dtype)

    @property
    def n_rows(self):
        return self.shape[0]

    def read(self, start, stop, dtype):
        """Rows ``start:stop`` as a new C-contiguous array of ``dtype``."""
        if self.path is not None:
            n_features = self.shape[1]
            with open(self.path, "rb") as handle:
                handle.seek(self.offset + start * n_features * self.stored_dtype.itemsize)
                block = np.fromfile(handle, self.stored_dtype, (stop - start) * n_features)
            block = block.reshape(stop - start, n_features)
        elif self.is_dask:
            block = np.asarray(self.array[start:stop].compute(scheduler="synchronous"))
        else:
            block = np.asarray(self.array[start:stop])
        if hasattr(block, "toarray"):
            block = block.toarray()
        return np.ascontiguousarray(block, dtype=dtype)


def _whole_file_memmap(X):
    import mmap

    return (
        X.filename is not None
        and isinstance(X.base, mmap.mmap)
        and X.flags.c_contiguous
        and X.ndim == 2
    )


class _NpyWriter:
    """Append row blocks to a new ``.npy`` file (the header first; the file is never mapped)."""

    def __init__(self, path, shape, dtype):
        self.path = Path(path)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.rows = 0
        self.handle = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_2_0(self.handle, header)

    def write(self, block):
        block = np.ascontiguousarray(block, dtype=self.dtype)
        self.handle.write(memoryview(block).cast("B"))
        self.rows += block.shape[0]

    def close(self):
        self.handle.close()
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: wrote {self.rows} rows, expected {self.shape[0]}.")


def _chunk_starts(n_rows, chunk_rows):
    return list(range(0, n_rows, chunk_rows))


def _stream_summary(source, chunk_rows, dtype, value_range):
    """One pass over the chunks: column means and standard deviations, and the checks
    ``check_array`` does in memory."""
    total = np.zeros(source.shape[1], np.float64)
    squares = np.zeros(source.shape[1], np.float64)
    low, high = np.inf, -np.inf
    for start in _chunk_starts(source.n_rows, chunk_rows):
        block = source.read(start, min(start + chunk_rows, source.n_rows), dtype)
        if not np.isfinite(block).all():
            raise ValueError(f"{source.name} contains NaN or infinity (rows {start} onwards).")
        low, high = min(low, float(block.min())), max(high, float(block.max()))
        total += block.sum(axis=0, dtype=np.float64)
        squares += np.einsum("ij,ij->j", block, block, dtype=np.float64)
    if value_range is not None:
        warn_out_of_range(source.name, low, high, value_range)
    mean = total / source.n_rows
    return mean, std_from_moments(mean, squares / source.n_rows)
