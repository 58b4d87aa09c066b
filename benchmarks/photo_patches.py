"""Which photograph is this patch from: a third image set that no study of dbn's defaults used.

    python benchmarks/photo_patches.py --output photo-patches.npz   # needs scikit-image, seconds
    python benchmarks/heldout.py --npz photo-patches.npz --images plain

Fashion-MNIST and the digits on photographs (``back_image.py``) are still objects drawn on a
plain or textured ground. This set has no object: each image is a 28x28 patch of one of the
twelve natural photographs of ``back_image.PHOTOGRAPHS`` (scikit-image's wheel: scenes,
textures, objects, sky and microscopy, grey levels in [0, 1]), and the label says which. Its
inputs are dense and correlated, of middling brightness, like small natural images (CIFAR-10 in
grey): the regime where Krizhevsky (2009) found binary RBMs on raw pixels weak, and one the
panel's rules were not chosen on.

- The training patches (5,000 per photograph, 60,000 in all, shuffled) are cut from the top
  :data:`TRAIN_SHARE` of each photograph's rows, the test patches (10,000, as evenly spread over
  the photographs as 10,000 allows) from the rest: no test patch overlaps a training one, so the
  test error measures what a net learnt of the picture, not its memory of the pixels.
- The corners are drawn uniformly inside each part. Some patches of a photograph are flat (sky,
  a plain background) and could come from several: the task has an error floor above zero.
- Seeded: the same ``--seed`` gives the same bytes.

Outputs: an ``.npz`` with ``X`` (uint8 grey levels, 70,000 x 784, the 10,000 test rows last) and
``y`` (0-11, the photograph's index), the format of ``benchmarks/heldout.py``.

References
----------
Krizhevsky, A. (2009). Learning multiple layers of features from tiny images. Technical report,
University of Toronto.
"""

from __future__ import annotations

import numpy as np
from back_image import SIDE, load_photographs, windows, write_set

#: Share of each photograph's rows (from the top) that the training patches come from.
TRAIN_SHARE = 0.75
N_TRAIN_PER_PHOTOGRAPH = 5_000
N_TEST = 10_000


def patches(photo, rows, n, rng):
    """``n`` SIDE x SIDE windows of ``photo`` lying wholly inside its rows ``rows`` (a range),
    corners drawn uniformly, flattened to (n, SIDE * SIDE)."""
    if rows.stop - rows.start < SIDE or photo.shape[1] < SIDE:
        raise ValueError(f"rows {rows} of a photograph {photo.shape} hold no {SIDE}x{SIDE} window")
    top = rng.integers(rows.start, rows.stop - SIDE + 1, size=n)
    left = rng.integers(photo.shape[1] - SIDE + 1, size=n)
    return windows(photo, top, left)


def build_from(photographs, seed=0, n_train_per=N_TRAIN_PER_PHOTOGRAPH, n_test=N_TEST):
    """``(X, y)``: float32 patches in [0, 1] and the photograph indices, the ``n_test`` test rows
    last; each part shuffled."""
    rng = np.random.default_rng(seed)
    k = len(photographs)
    test_counts = np.full(k, n_test // k)
    test_counts[: n_test % k] += 1
    parts = {"train": ([], []), "test": ([], [])}
    for label, photo in enumerate(photographs):
        split = int(round(TRAIN_SHARE * photo.shape[0]))
        for part, rows, n in (
            ("train", range(0, split), n_train_per),
            ("test", range(split, photo.shape[0]), int(test_counts[label])),
        ):
            parts[part][0].append(patches(photo, rows, n, rng))
            parts[part][1].append(np.full(n, label))
    X_parts, y_parts = [], []
    for part in ("train", "test"):
        X, y = np.concatenate(parts[part][0]), np.concatenate(parts[part][1])
        order = rng.permutation(len(y))
        X_parts.append(X[order])
        y_parts.append(y[order])
    return np.concatenate(X_parts).astype(np.float32), np.concatenate(y_parts)


def build(seed=0):
    """The set: ``(X uint8 of shape (70000, 784), y)``, the 10,000 test patches last."""
    X, y = build_from(load_photographs(), seed)
    return np.round(X * 255).astype(np.uint8), y


def main(argv=None):
    write_set(argv, __doc__.split("\n")[0], build, "patches")


if __name__ == "__main__":
    main()
