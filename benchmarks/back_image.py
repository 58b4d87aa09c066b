"""MNIST digits on patches of photographs: an image set that no study of dbn's defaults used.

    python benchmarks/back_image.py --output back-image.npz     # needs scikit-image, 1 minute
    python benchmarks/heldout.py --npz back-image.npz --images plain

In the manner of Larochelle et al.'s (2007) ``mnist-back-image``: every MNIST digit (the 60,000
training images, then the 10,000 test images, in MNIST's order) is laid on a 28x28 patch cut at
random from one of :data:`PHOTOGRAPHS`, grey levels in [0, 1]; the digit's own pixels (value above
0) are kept and every background pixel is the patch's. Departures from the paper: its 20
photographs came from the internet, these are the twelve natural photographs that ship inside
scikit-image's wheel (no download); the paper's patches were picked among those of enough
variance, these are drawn uniformly. Seeded: the same ``--seed`` gives the same bytes.

Its inputs are textured and of middling brightness (a mean of 0.44), between the sparse
MNIST and the noise background of ``mnist-back-rand`` (0.54), near where ``centering="auto"``
switches (0.5): a place the panel's rules were not chosen on.

Outputs: an ``.npz`` with ``X`` (uint8 grey levels, 70,000 x 784) and ``y``, the format of
``benchmarks/heldout.py``.

References
----------
Larochelle, H., Erhan, D., Courville, A., Bergstra, J., & Bengio, Y. (2007). An empirical
evaluation of deep architectures on problems with many factors of variation. ICML.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: The natural photographs of ``skimage.data`` that its wheel ships (scenes, textures, objects,
#: sky and microscopy), each converted to grey levels in [0, 1].
PHOTOGRAPHS = (
    "camera", "astronaut", "coffee", "chelsea", "rocket", "brick",
    "grass", "gravel", "coins", "moon", "hubble_deep_field", "cell",
)  # fmt: skip
SIDE = 28


def load_photographs(names=PHOTOGRAPHS):
    """The photographs ``names`` of ``skimage.data`` as 2-D float32 arrays in [0, 1]."""
    try:
        from skimage import color, data
    except ImportError as exc:  # not a dependency of dbn
        raise SystemExit("back_image.py needs scikit-image: pip install scikit-image") from exc
    photographs = []
    for name in names:
        image = getattr(data, name)()
        if image.ndim == 3:
            image = color.rgb2gray(image[..., :3])
        else:
            image = image / 255.0
        photographs.append(np.asarray(image, dtype=np.float32))
    return photographs


def on_backgrounds(digits, photographs, rng):
    """Each row of ``digits`` (n, 784) in [0, 1] laid on a random patch of a random photograph.

    Returns a new float32 array; ``digits`` is not modified. A pixel above 0 is the digit's,
    every other pixel the patch's.
    """
    digits = np.asarray(digits, dtype=np.float32)
    n = len(digits)
    which = rng.integers(len(photographs), size=n)
    out = np.empty_like(digits)
    for k, photo in enumerate(photographs):
        rows = np.flatnonzero(which == k)
        if not len(rows):
            continue
        top = rng.integers(photo.shape[0] - SIDE + 1, size=len(rows))
        left = rng.integers(photo.shape[1] - SIDE + 1, size=len(rows))
        out[rows] = np.where(digits[rows] > 0, digits[rows], windows(photo, top, left))
    return out


def windows(photo, top, left):
    """The SIDE x SIDE windows of ``photo`` with corners ``(top[i], left[i])``, flattened to
    (n, SIDE * SIDE): one gather, the window's offsets added to each corner."""
    r = top[:, None, None] + np.arange(SIDE)[None, :, None]
    c = left[:, None, None] + np.arange(SIDE)[None, None, :]
    return photo[r, c].reshape(len(top), SIDE * SIDE)


def build(seed=0, data_home=None, photographs=None):
    """The set: ``(X uint8 of shape (70000, 784), y)``, MNIST's training images first."""
    from dbn.datasets import load_mnist

    X_train, y_train = load_mnist("train", as_float=True, data_home=data_home)
    X_test, y_test = load_mnist("test", as_float=True, data_home=data_home)
    digits = np.concatenate([X_train, X_test])
    photographs = load_photographs() if photographs is None else photographs
    X = on_backgrounds(digits, photographs, np.random.default_rng(seed))
    return np.round(X * 255).astype(np.uint8), np.concatenate([y_train, y_test])


def write_set(argv, description, build_set, rows_name):
    """The command line of a set builder: ``--output`` (the .npz), ``--seed``; writes
    ``build_set(seed)``'s ``X`` and ``y`` in ``benchmarks/heldout.py``'s format."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--output", required=True, help="the .npz to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X, y = build_set(args.seed)
    np.savez_compressed(Path(args.output), X=X, y=y)
    print(f"{args.output}: {X.shape[0]} {rows_name}, mean grey level {X.mean() / 255:.3f}")


def main(argv=None):
    write_set(argv, __doc__.split("\n")[0], build, "images")


if __name__ == "__main__":
    main()
