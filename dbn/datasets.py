"""IDX parsing [3]_, and the MNIST [1]_ and Fashion-MNIST [2]_ data sets with a cache, mirrors and
checksums.

Each data set lives in its own subfolder (``mnist/``, ``fashion-mnist/``) of a data folder, under
its four standard file names, gzipped or not. Without a ``data_home`` argument (which is then the
only folder), the files are looked for in these data folders, in order (:func:`data_homes`): the
``DBN_DATA_HOME`` environment variable, pooch's cache folder for dbn (``$XDG_CACHE_HOME/dbn`` or
``~/.cache/dbn`` on Linux), and, in a source checkout of dbn, ``../shared/data`` beside the
checkout (where CI and offline machines keep a copy). A file found in none of them is downloaded
into the first (:func:`get_data_home`).

A missing file is downloaded with pooch [4]_ from the first mirror that serves it with the pinned
checksum: pooch streams it into a temporary file in the same folder (with a progress bar on a
terminal, and retries after transient network failures), the payload is checked, and only then is
the file moved into place, so an interrupted or corrupt download never leaves a file behind. Files
already in the folder are verified the same way; a file that fails the check raises an error and is
never used silently, nor deleted. pooch and requests are imported only when a download starts.

References
----------
.. [1] Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). "Gradient-based learning applied to
   document recognition." Proceedings of the IEEE 86(11), 2278-2324.
.. [2] H. Xiao, K. Rasul and R. Vollgraf (2017). "Fashion-MNIST: a novel image dataset for
   benchmarking machine learning algorithms." arXiv:1708.07747.
.. [3] Y. LeCun, C. Cortes and C. J. C. Burges. "The MNIST database of handwritten digits"
   (description of the IDX file format), http://yann.lecun.com/exdb/mnist/.
.. [4] L. Uieda, S. R. Soler, R. Rampin, H. van Kemenade, M. Turk, D. Shapero, A. Banihirwe and
   J. Leeman (2020). "Pooch: a friend to fetch your data files." Journal of Open Source Software
   5(45), 1943.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import numbers
import os
import sys
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "CHECKSUMS",
    "MIRRORS",
    "Bunch",
    "Checksum",
    "ChecksumError",
    "DatasetNotFoundError",
    "IDXFormatError",
    "PANEL",  # noqa: F822 (module __getattr__)
    "data_homes",
    "find_data_home",
    "get_data_home",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "load_panel",  # noqa: F822 (module __getattr__)
]


class IDXFormatError(ValueError):
    """A file is not a well-formed IDX file, or not the array a data set expects."""


class ChecksumError(ValueError):
    """A data file's digest differs from the pinned one; such a file is never used."""


class DatasetNotFoundError(FileNotFoundError):
    """A data file is missing from the data folder and could not be downloaded."""


# ----------------------------------------------------------------------------------------------
# IDX format
# ----------------------------------------------------------------------------------------------

_GZIP_MAGIC = b"\x1f\x8b"

# Type code (third byte of the magic number) -> big-endian element type, as in the IDX spec [3].
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _known_codes() -> str:
    return ", ".join(f"0x{code:02X} ({dtype.name})" for code, dtype in _IDX_DTYPES.items())


def _gunzip(raw: bytes, source: object) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IDXFormatError(f"{source}: corrupt or truncated gzip stream ({exc})") from exc


def _read_maybe_gzipped(path: Path) -> tuple[bytes, bytes]:
    """Return ``(raw, data)``: the file's bytes and, if they are gzip, their decompression."""
    raw = path.read_bytes()
    # By content, not by name: a ".gz" file may have been decompressed in place and vice versa.
    data = _gunzip(raw, path) if raw[:2] == _GZIP_MAGIC else raw
    return raw, data


def _parse_idx(data: bytes, source: object) -> np.ndarray:
    """Parse the (decompressed) bytes of an IDX file; ``source`` names the file in errors."""
    if len(data) < 4:
        raise IDXFormatError(
            f"{source}: too short to be an IDX file, expected a 4-byte magic number, "
            f"found {len(data)} bytes"
        )
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{source}: bad IDX magic number, expected it to start with two zero bytes, "
            f"found 0x{data[:4].hex()}"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise IDXFormatError(
            f"{source}: unknown IDX dtype code 0x{code:02X} in the magic number, "
            f"expected one of {_known_codes()}"
        )
    if ndim == 0:
        raise IDXFormatError(f"{source}: IDX header declares 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"{source}: truncated header, expected {header} bytes for {ndim} dimensions, "
            f"found {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    count = 1
    for d in shape:  # Python ints: no overflow however large the declared dimensions
        count *= d
    expected = count * dtype.itemsize
    found = len(data) - header
    if found != expected:
        problem = "truncated" if found < expected else "over-long"
        raise IDXFormatError(
            f"{source}: {problem}, expected {expected} bytes of data after the {header}-byte "
            f"header (shape {shape}, {dtype.name}), found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    # astype copies: a writable array in native byte order, not a view on the file's bytes.
    return array.astype(dtype.newbyteorder("="))


def load_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed.

    Compression is detected from the gzip magic bytes, not from the file name.

    Parameters
    ----------
    path : str or path-like
        The file to read.

    Returns
    -------
    array : ndarray
        The array with the shape declared in the header and the element type of the dtype code
        (uint8, int8, int16, int32, float32 or float64), in native byte order.

    Raises
    ------
    IDXFormatError
        If the magic number, the dtype code or the dimensions are invalid, if the gzip stream is
        corrupt, or if the data after the header is not exactly ``prod(shape) * itemsize`` bytes
        long (truncated or over-long file). The message names the file, what was expected and
        what was found.

    References
    ----------
    .. [1] Y. LeCun, C. Cortes and C. J. C. Burges. "The MNIST database of handwritten digits",
       section "The IDX file format", http://yann.lecun.com/exdb/mnist/.
    """
    path = _as_path(path, "path")
    _, data = _read_maybe_gzipped(path)
    return _parse_idx(data, path)


def _as_path(value: object, name: str) -> Path:
    """``value`` as a Path; a TypeError naming the parameter for anything else."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError(
            f"{name} must be a str or os.PathLike, got {value!r} ({type(value).__name__})"
        )
    return Path(value)


# ----------------------------------------------------------------------------------------------
# Data sets: checksums, mirrors, folders
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checksum:
    """A pinned digest of one data file.

    Parameters
    ----------
    algorithm : {"sha256", "md5"}
        The hash function, by its :mod:`hashlib` name.
    hexdigest : str
        The expected digest, lower-case hexadecimal.
    of : {"decompressed", "gzip"}
        Which bytes are hashed: the decompressed IDX file (independent of how it was compressed),
        or the ``.gz`` file exactly as published (which a re-compressed copy will not match).
    """

    algorithm: Literal["sha256", "md5"]
    hexdigest: str
    of: Literal["decompressed", "gzip"]

    def describe(self) -> str:
        what = "decompressed bytes" if self.of == "decompressed" else "gzip file"
        return f"{self.algorithm.upper().replace('SHA', 'SHA-')} of the {what}"


_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_N_SAMPLES = {"train": 60000, "test": 10000}
_IMAGE_SHAPE = (28, 28)

#: Pinned digests, per data set and file name (without ``.gz``).
#:
#: MNIST: SHA-256 of the decompressed files. Mirrors do not all serve byte-identical ``.gz``
#: files (gzip headers and compression levels differ), but they decompress to the same bytes.
#:
#: Fashion-MNIST: MD5 of the ``.gz`` files, as published in the Zalando README (Xiao et al.
#: 2017). These are the only digests published by the authors, and no copy was at hand to compute
#: SHA-256 sums of the decompressed bytes independently, so this is what is pinned. MD5 is weak
#: against a deliberate collision but detects corrupt or substituted downloads. A local
#: *uncompressed* Fashion-MNIST file cannot be checked against a digest of a ``.gz`` file; it is
#: checked by its IDX header, shape and label range only.
CHECKSUMS: dict[str, dict[str, Checksum]] = {
    "mnist": {
        "train-images-idx3-ubyte": Checksum(
            "sha256",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            of="decompressed",
        ),
        "train-labels-idx1-ubyte": Checksum(
            "sha256",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            of="decompressed",
        ),
        "t10k-images-idx3-ubyte": Checksum(
            "sha256",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            of="decompressed",
        ),
        "t10k-labels-idx1-ubyte": Checksum(
            "sha256",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            of="decompressed",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": Checksum("md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", of="gzip"),
        "train-labels-idx1-ubyte": Checksum("md5", "25c81989df183df01b3e8a0aad5dffbe", of="gzip"),
        "t10k-images-idx3-ubyte": Checksum("md5", "bef4ecab320f06d8554ea6380940ec79", of="gzip"),
        "t10k-labels-idx1-ubyte": Checksum("md5", "bb300cfdad3c16e7a12a480ee83cd310", of="gzip"),
    },
}

#: URL prefixes tried in order for a missing ``<file name>.gz``. Edit to add a mirror, or pass
#: ``mirrors=`` to a loader.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_TARGET_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}

_DEFAULT_TIMEOUT = 30.0
# Further attempts pooch makes at one mirror after a transient failure (refused connection, time-out,
# incomplete transfer, server error), waiting 1, 2, ... s in between. A 4xx answer or a payload that
# fails its checksum moves on to the next mirror at once: asking again would not change it.
_RETRIES = 2
_USER_AGENT = "dbn-datasets (pooch)"


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder that missing data files are downloaded into; nothing is created.

    Files already on disk are also looked for in the further folders of :func:`data_homes`.

    Parameters
    ----------
    data_home : str or path-like, optional
        If given, this folder (``~`` is expanded). Otherwise the ``DBN_DATA_HOME`` environment
        variable if set and non-empty, else pooch's cache folder for dbn,
        ``pooch.os_cache("dbn")``: ``$XDG_CACHE_HOME/dbn`` if ``XDG_CACHE_HOME`` is an absolute
        path, else ``~/.cache/dbn`` on Linux; the platform's cache folder on macOS and Windows.

    Returns
    -------
    path : pathlib.Path
        Absolute path of the folder. Each data set has its own subfolder in it.
    """
    if data_home is None:
        data_home = os.environ.get("DBN_DATA_HOME") or None
    if data_home is not None:
        return _as_path(data_home, "data_home").expanduser().absolute()
    return _user_cache_home()


def _user_cache_home() -> Path:
    """pooch's cache folder for dbn, as :func:`get_data_home` describes it."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and not os.path.isabs(xdg):
        # The XDG spec says relative values are invalid and must be ignored (platformdirs keeps them).
        return (Path.home() / ".cache" / "dbn").absolute()
    import pooch

    return Path(pooch.os_cache("dbn")).expanduser().absolute()


def _checkout_data_home() -> Path | None:
    """``../shared/data`` beside the source checkout this package runs from, if both exist.

    An installed wheel has no checkout (its parent folder holds no ``pyproject.toml``), so the
    folder is only ever looked at for a clone, as CI and offline machines lay one out.
    """
    checkout = Path(__file__).resolve().parent.parent
    shared = checkout.parent / "shared" / "data"
    if (checkout / "pyproject.toml").is_file() and shared.is_dir():
        return shared.absolute()
    return None


def data_homes(data_home: str | os.PathLike[str] | None = None) -> list[Path]:
    """Return the data folders searched for files already on disk, in order; nothing is created.

    Parameters
    ----------
    data_home : str or path-like, optional
        If given, the only folder searched.

    Returns
    -------
    homes : list of pathlib.Path
        Without ``data_home``: the ``DBN_DATA_HOME`` environment variable if set and non-empty,
        pooch's cache folder for dbn (see :func:`get_data_home`), then ``../shared/data``
        beside a source checkout of dbn if it exists; duplicates removed. The first is where
        missing files are downloaded.
    """
    if data_home is not None:
        return [get_data_home(data_home)]
    homes = [get_data_home(), _user_cache_home()]
    checkout = _checkout_data_home()
    if checkout is not None:
        homes.append(checkout)
    return list(dict.fromkeys(homes))


def find_data_home(dataset: str, data_home: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the first folder of :func:`data_homes` that holds every file of ``dataset``.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist"}
    data_home : str or path-like, optional
        If given, the only folder searched.

    Returns
    -------
    path : pathlib.Path or None
        The data folder (``dataset/`` is its subfolder), or None when no folder holds all the
        files (a loader would then download what is missing into :func:`get_data_home`).
    """
    from ._validation import check_choice

    check_choice(dataset, "dataset", tuple(CHECKSUMS))
    for home in data_homes(data_home):
        if all(_find_local(home / dataset, name) is not None for name in CHECKSUMS[dataset]):
            return home
    return None


def _find_local(folder: Path, filename: str) -> Path | None:
    for name in (filename + ".gz", filename):
        if (folder / name).is_file():
            return folder / name
    return None


def _mismatch(raw: bytes, data: bytes, checksum: Checksum) -> str | None:
    """Describe how ``raw`` (file bytes) / ``data`` (decompressed) fail ``checksum``, or None."""
    if checksum.of == "gzip":
        if raw[:2] != _GZIP_MAGIC:
            return None  # nothing to compare: the caller decides whether that is acceptable
        hashed = raw
    else:
        hashed = data
    # Integrity, not security, is at stake: allowed on FIPS builds where MD5 is restricted.
    got = hashlib.new(checksum.algorithm, hashed, usedforsecurity=False).hexdigest()
    if got == checksum.hexdigest.lower():
        return None
    return f"{checksum.describe()} is {got}, expected {checksum.hexdigest}"


def _read_verified(path: Path, dataset: str, filename: str, checksum: Checksum) -> bytes:
    """Read a local data file, check it against ``checksum`` and return its decompressed bytes."""
    raw, data = _read_maybe_gzipped(path)
    problem = _mismatch(raw, data, checksum)
    if problem is not None:
        hint = ""
        if checksum.of == "gzip":
            hint = (
                " The pinned digest is that of the .gz file as published, which a re-compressed "
                "copy does not match: use the original .gz or its decompressed file instead."
            )
        raise ChecksumError(
            f"{path}: {problem} for {_TITLES.get(dataset, dataset)} {filename}. The file is "
            f"corrupt, truncated or not the expected one; dbn never uses such a file silently. "
            f"It was left in place: delete or replace it (a missing file is downloaded again)."
            f"{hint}"
        )
    return data


def _progress_enabled(verbose: bool | None) -> bool:
    if verbose is not None:
        return bool(verbose)
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _MirrorFailure(Exception):
    """The mirror cannot serve the file: not a ValueError nor a requests error, so pooch does not
    retry it (asking again would get the same answer)."""


def _verifying_downloader(checksum: Checksum, *, timeout: float, progressbar: bool):
    """pooch's HTTP downloader, followed by the check of the payload against ``checksum``.

    pooch hashes the bytes as served; the MNIST digests are of the decompressed bytes (mirrors
    compress differently), so the check runs here, on pooch's temporary file, before pooch moves it
    into place. A rejected payload raises :class:`_MirrorFailure`, and pooch deletes the file.
    """
    import pooch
    import requests

    http = pooch.HTTPDownloader(
        progressbar=progressbar, timeout=timeout, headers={"User-Agent": _USER_AGENT}
    )

    def download(url: str, output_file: str, pooch_instance) -> None:
        try:
            http(url, output_file, pooch_instance)
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code < 500:
                reason = f"HTTP {exc.response.status_code} {exc.response.reason}"
                raise _MirrorFailure(reason) from exc
            raise
        try:
            raw, data = _read_maybe_gzipped(Path(output_file))
        except IDXFormatError as exc:
            raise _MirrorFailure(f"not a valid gzip stream ({exc.__cause__}), discarded") from exc
        if checksum.of == "gzip" and raw[:2] != _GZIP_MAGIC:
            problem = f"not gzip-compressed, so the {checksum.describe()} cannot be checked"
        else:
            problem = _mismatch(raw, data, checksum)
            problem = problem and f"checksum mismatch, {problem}"
        if problem is not None:
            raise _MirrorFailure(f"{problem}; discarded")

    return download


def _download(
    folder: Path,
    filename: str,
    checksum: Checksum,
    mirrors: Sequence[str],
    *,
    timeout: float,
    verbose: bool | None,
) -> tuple[Path | None, list[tuple[str, str]]]:
    """Fetch ``filename + '.gz'`` with pooch from the first mirror that serves it with ``checksum``.

    pooch streams into a temporary file in ``folder``, retries transient failures and moves the
    file into place only once it passed the check: no partial or rejected file survives. Returns
    the installed path (or None) and the ``(url, reason)`` of every failed attempt.
    """
    import pooch
    import requests

    name = filename + ".gz"
    # The registry holds the digest when pooch can check it itself: that of a published .gz file.
    registry = {
        name: f"{checksum.algorithm}:{checksum.hexdigest}" if checksum.of == "gzip" else None
    }
    verbose = _progress_enabled(verbose)
    download = _verifying_downloader(checksum, timeout=timeout, progressbar=verbose)
    # pooch logs "Downloading file ... from ... to ..." and its retries: shown only when verbose.
    # A filter, not setLevel: pooch's logger is outside logging's tree, so a level change would not
    # reset its cached isEnabledFor answers.
    logger = pooch.get_logger()
    if not verbose:
        logger.addFilter(_drop_info)
    failures: list[tuple[str, str]] = []
    try:
        for mirror in mirrors:
            base = mirror.rstrip("/") + "/"
            fetcher = pooch.create(folder, base, registry=registry, retry_if_failed=_RETRIES)
            try:
                return Path(fetcher.fetch(name, downloader=download)), failures
            except _MirrorFailure as exc:
                failures.append((base + name, str(exc)))
            except (requests.RequestException, ValueError) as exc:
                failures.append((base + name, f"{type(exc).__name__}: {exc}"))
    finally:
        logger.removeFilter(_drop_info)
    return None, failures


def _drop_info(record: logging.LogRecord) -> bool:
    return record.levelno > logging.INFO


def _fetch_file(
    dataset: str,
    filename: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, Checksum] | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
    verbose: bool | None = None,
) -> Path:
    """Return the path of a data file in the data folder, downloading it if missing.

    A file already present is returned unverified (it is verified when read); a downloaded one
    has been verified against ``checksums[filename]`` (default: :data:`CHECKSUMS`) before being
    moved into place.
    """
    if isinstance(mirrors, str):
        raise TypeError(f"mirrors must be a list of URL prefixes, got the string {mirrors!r}")
    if mirrors is not None and (
        not isinstance(mirrors, Sequence) or not all(isinstance(m, str) for m in mirrors)
    ):
        raise TypeError(f"mirrors must be a list of URL prefixes (str), got {mirrors!r}")
    mirrors = list(MIRRORS[dataset] if mirrors is None else mirrors)
    checksum = (CHECKSUMS[dataset] if checksums is None else checksums)[filename]
    folders = [home / dataset for home in data_homes(data_home)]
    for searched in folders:
        local = _find_local(searched, filename)
        if local is not None:
            return local
    folder = folders[0]  # where a download goes

    title = _TITLES.get(dataset, dataset)
    howto = (
        f"To use local copies, put the files (gzipped or not) in {folder}, or point dbn at a "
        f"folder that holds a '{dataset}/' subfolder with data_home=... or the DBN_DATA_HOME "
        f"environment variable."
    )
    places = " or ".join(str(f) for f in folders)
    missing = f"{title} file {filename} (or {filename}.gz) not found in {places}"
    if not download:
        raise DatasetNotFoundError(
            f"{missing}, and downloading is disabled (download=False). {howto}"
        )
    if not mirrors:
        raise DatasetNotFoundError(
            f"{missing}, and no mirrors were given to download from. {howto}"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path, failures = _download(
            folder, filename, checksum, mirrors, timeout=timeout, verbose=verbose
        )
    except OSError as exc:
        raise DatasetNotFoundError(
            f"{missing}, and it cannot be downloaded into that folder ({exc}). {howto}"
        ) from exc
    if path is None:
        tried = "\n".join(f"  - {url}: {reason}" for url, reason in failures)
        raise DatasetNotFoundError(
            f"{missing}, and downloading {filename}.gz failed from every mirror:\n{tried}\n{howto}"
        )
    return path


def _load_array(dataset: str, filename: str, **fetch_options) -> tuple[Path, np.ndarray]:
    """Fetch, verify and parse one data file; returns its path and array."""
    path = _fetch_file(dataset, filename, **fetch_options)
    checksums = fetch_options.get("checksums")
    checksums = CHECKSUMS[dataset] if checksums is None else checksums
    data = _read_verified(path, dataset, filename, checksums[filename])
    return path, _parse_idx(data, path)


class Bunch(dict):
    """A dict whose keys are also attributes, as returned with ``return_X_y=False``."""

    def __getattr__(self, key: str):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __dir__(self):
        return [*super().__dir__(), *self.keys()]


_SPLITS = tuple(_FILES)


def _load(
    dataset: str,
    split: str,
    *,
    data_home,
    download: bool,
    as_float: bool,
    return_X_y: bool,
    mirrors,
    timeout: float,
    verbose: bool | None,
):
    if not isinstance(split, str) or split not in _FILES:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    for name, value in (("download", download), ("as_float", as_float), ("return_X_y", return_X_y)):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if verbose is not None and not isinstance(verbose, bool | np.bool_):
        raise TypeError(f"verbose must be True, False or None, got {verbose!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be a number of seconds, got {timeout!r}")
    if not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    title = _TITLES[dataset]
    options = dict(
        data_home=data_home, download=download, mirrors=mirrors, timeout=timeout, verbose=verbose
    )
    n = _N_SAMPLES[split]
    arrays, paths = [], []
    for filename, shape in zip(_FILES[split], [(n, *_IMAGE_SHAPE), (n,)], strict=True):
        path, array = _load_array(dataset, filename, **options)
        if array.shape != shape or array.dtype != np.uint8:
            raise IDXFormatError(
                f"{path}: expected {title} {filename} to hold a uint8 array of shape {shape}, "
                f"found {array.dtype} of shape {array.shape}; the file is never used silently"
            )
        arrays.append(array)
        paths.append(path)
    images, labels = arrays
    if labels.size and labels.max() > 9:
        raise IDXFormatError(
            f"{paths[1]}: expected {title} labels in 0..9, found {int(labels.max())}; "
            f"the file is never used silently"
        )
    X = images.reshape(n, -1)
    if as_float:
        X = X.astype(np.float32)
        X /= np.float32(255)
    y = labels.astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(
        data=X,
        target=y,
        images=X.reshape(n, *_IMAGE_SHAPE),
        target_names=list(_TARGET_NAMES[dataset]),
        filenames=[str(p) for p in paths],
        DESCR=f"{title} {split} split: {n} grey-scale {_IMAGE_SHAPE[0]}x{_IMAGE_SHAPE[1]} images, "
        f"10 classes.",
    )


_LOADER_DOC = """Load the {title} data set {what} [1]_.

    {description}

    Parameters
    ----------
    split : {{"train", "test"}}, default="train"
        The 60,000-image training set or the 10,000-image test set.
    data_home : str or path-like, optional
        Folder holding the ``{dataset}/`` subfolder. Default: the ``DBN_DATA_HOME`` environment
        variable, else pooch's cache folder for dbn (see :func:`get_data_home`).
    download : bool, default=True
        Download missing files. With False, a missing file raises :class:`DatasetNotFoundError`.
    as_float : bool, default=False
        Return ``X`` as float32 scaled to [0, 1] (pixel values divided by 255), the usual input
        of a Bernoulli RBM, instead of the raw uint8 pixel values.
    return_X_y : bool, default=True
        Return ``(X, y)``. With False, return a :class:`Bunch` with keys ``data``, ``target``,
        ``images`` (``data`` viewed as ``(n_samples, 28, 28)``), ``target_names``,
        ``filenames`` and ``DESCR``.
    mirrors : list of str, optional
        URL prefixes to download missing files from, tried in order. Default:
        ``MIRRORS["{dataset}"]``.
    timeout : float, default=30.0
        Seconds of network silence after which a mirror is abandoned for the next one.
    verbose : bool, optional
        Show pooch's download messages and progress bar on stderr. Default: only when stderr is
        a terminal.

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
        One image per row, uint8 pixel values in 0..255 (float32 in [0, 1] with ``as_float``).
    y : ndarray of shape (n_samples,), dtype int64
        {labels}

    Raises
    ------
    ValueError
        If ``split`` is not "train" or "test".
    DatasetNotFoundError
        If a file is missing and could not be downloaded. The message names the folder searched,
        each mirror tried with its failure, and how to point dbn at local files.
    ChecksumError
        If a file in the folder does not match its pinned digest. It is left in place, unused.
    IDXFormatError
        If a file in the folder is not a well-formed IDX file of the expected shape.

    References
    ----------
    .. [1] {reference}
    {examples}"""


def load_mnist(
    split: str = "train",
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
    as_float: bool = False,
    return_X_y: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
    verbose: bool | None = None,
):
    options = dict(data_home=data_home, download=download, as_float=as_float)
    options.update(return_X_y=return_X_y, mirrors=mirrors, timeout=timeout, verbose=verbose)
    return _load("mnist", split, **options)


def load_fashion_mnist(
    split: str = "train",
    *,
    data_home: str | os.PathLike[str] | None = None,
    download: bool = True,
    as_float: bool = False,
    return_X_y: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
    verbose: bool | None = None,
):
    options = dict(data_home=data_home, download=download, as_float=as_float)
    options.update(return_X_y=return_X_y, mirrors=mirrors, timeout=timeout, verbose=verbose)
    return _load("fashion-mnist", split, **options)


# One parameter list for both loaders, so that their documentation cannot drift apart.
load_mnist.__doc__ = _LOADER_DOC.format(
    title="MNIST",
    what="of handwritten digits",
    dataset="mnist",
    description="""Files are read from ``<data folder>/mnist/``, gzipped or not, and downloaded from
    :data:`MIRRORS` if missing. Every file is checked against the SHA-256 of its decompressed
    bytes pinned in :data:`CHECKSUMS` before use, so any mirror's ``.gz`` (or a decompressed
    copy) is accepted as long as its content is the original.""",
    labels="The digit shown, 0..9.",
    reference="""Y. LeCun, L. Bottou, Y. Bengio and P. Haffner (1998). "Gradient-based learning
       applied to document recognition." Proceedings of the IEEE 86(11), 2278-2324.""",
    examples="""
    Examples
    --------
    >>> from dbn.datasets import load_mnist
    >>> X, y = load_mnist("test", as_float=True)  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:5]  # doctest: +SKIP
    ((10000, 784), dtype('float32'), array([7, 2, 1, 0, 4]))
    """,
)
load_fashion_mnist.__doc__ = _LOADER_DOC.format(
    title="Fashion-MNIST",
    what="of Zalando article images",
    dataset="fashion-mnist",
    description="""A drop-in replacement for MNIST: same sizes, image shape, file names and label range.
    Files are read from ``<data folder>/fashion-mnist/``, gzipped or not, and downloaded from
    :data:`MIRRORS` if missing. What is pinned in :data:`CHECKSUMS` is the MD5 of each ``.gz``
    file as published by the authors, the only digests they publish: a downloaded or local
    ``.gz`` must be the published file byte for byte; a local *uncompressed* file cannot be
    matched against that digest and is checked by its IDX header, shape and label range only.""",
    labels="""Class labels 0..9: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
        Sneaker, Bag, Ankle boot (``target_names`` with ``return_X_y=False``).""",
    reference="""H. Xiao, K. Rasul and R. Vollgraf (2017). "Fashion-MNIST: a novel image dataset
       for benchmarking machine learning algorithms." arXiv:1708.07747.""",
    examples="",
)


def __getattr__(name):
    # The data panel (MNIST, the Larochelle et al. 2007 variations, digits and two real-valued
    # sets) lives in dbn._panel and is part of this namespace; imported on first use, so that
    # this module stays light (it needs scipy and scikit-learn).
    if name in ("PANEL", "load_panel"):
        from . import _panel

        return getattr(_panel, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"PANEL", "load_panel"})
