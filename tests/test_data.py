"""Datasets: array folders, digits, splits, fractions, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bpe.data import (
    DatasetSpec,
    augment_batch,
    class_balanced_split,
    class_balanced_subset,
    load_arrays,
    prepare_split,
)
from bpe.errors import DataError


def make_folder(path, n_train=40, n_test=20, classes=4, size=8, seed=0):
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    np.save(path / "train_x.npy", rng.integers(0, 256, (n_train, size, size, 3), dtype=np.uint8))
    np.save(path / "train_y.npy", np.arange(n_train) % classes)
    np.save(path / "test_x.npy", rng.integers(0, 256, (n_test, size, size, 3), dtype=np.uint8))
    np.save(path / "test_y.npy", np.arange(n_test) % classes)
    return path


def test_array_folder(tmp_path):
    folder = make_folder(tmp_path / "arr")
    data = load_arrays(DatasetSpec("folder", str(folder)))
    assert data.train_x.shape == (40, 8, 8, 3) and data.num_classes == 4


def test_digits_builtin():
    data = load_arrays(DatasetSpec("digits"))
    assert data.num_classes == 10 and data.train_x.dtype == np.uint8 and data.train_x.shape[1:] == (8, 8, 3)
    assert len(data.train_x) + len(data.test_x) == 1797
    assert not data.flip


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_arrays(DatasetSpec("cifar10", str(tmp_path / "nope")))
    folder = make_folder(tmp_path / "bad")
    (folder / "train_x.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="corrupt"):
        load_arrays(DatasetSpec("folder", str(folder)))
    partial = make_folder(tmp_path / "partial")
    (partial / "test_y.npy").unlink()
    with pytest.raises(DataError, match="lacks test_y.npy"):
        load_arrays(DatasetSpec("cifar10", str(partial)))


def test_labels_beyond_classes(tmp_path):
    folder = make_folder(tmp_path / "many", classes=12)
    with pytest.raises(DataError, match="labels go up to 11"):
        load_arrays(DatasetSpec("cifar10", str(folder)))


def test_class_balanced_split_and_subset():
    y = np.repeat(np.arange(5), 20)
    rest, held = class_balanced_split(y, 0.5, seed=1)
    assert len(set(rest) & set(held)) == 0 and len(rest) + len(held) == 100
    assert np.all(np.bincount(y[held]) == 10)
    again, _ = class_balanced_split(y, 0.5, seed=1)
    assert np.array_equal(rest, again)
    sub = class_balanced_subset(rest, y, 0.2, seed=0)
    assert np.all(np.bincount(y[sub]) == 2) and set(sub) <= set(rest)


def test_prepare_split_fraction():
    full = prepare_split(DatasetSpec("digits"), 1.0)
    part = prepare_split(DatasetSpec("digits"), 0.25)
    assert full.train_x.dtype == torch.uint8 and full.train_x.shape[1] == 3
    assert abs(len(part.train_y) - 0.25 * len(full.train_y)) <= 10
    assert abs(len(part.valid_y) - 0.25 * len(full.valid_y)) <= 10
    assert len(part.train_x) == len(part.train_y)


def test_augment_shapes_determinism_and_cutout():
    x = torch.randn(6, 3, 32, 32)
    a = augment_batch(x, torch.Generator().manual_seed(0), size=16)
    b = augment_batch(x, torch.Generator().manual_seed(0), size=16)
    assert a.shape == (6, 3, 16, 16) and torch.equal(a, b)
    ones = torch.ones(4, 3, 16, 16)
    cut = augment_batch(ones, torch.Generator().manual_seed(1), flip=False, cutout=8)
    # pad-and-crop zeros plus an 8x8 hole (clipped at borders): each image lost some pixels
    assert (cut == 0).flatten(1).sum(1).min() > 0


def test_augment_crop_and_flip_are_the_per_image_slices_they_stand_for():
    """The one-gather crop + flip against the textbook per-image pad, slice and mirror, drawing the
    same random numbers in the same order (offsets, offsets, flips): equal values, bit for bit."""
    import torch.nn.functional as F

    x = torch.randn(9, 3, 16, 16)
    for flip in (True, False):
        ours = augment_batch(x, torch.Generator().manual_seed(3), flip=flip)
        gen = torch.Generator().manual_seed(3)
        pad = 2
        oy = torch.randint(0, 2 * pad + 1, (9,), generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (9,), generator=gen)
        mirror = torch.rand(9, generator=gen) < 0.5 if flip else torch.zeros(9, dtype=torch.bool)
        padded = F.pad(x, (pad,) * 4)
        ref = torch.stack([padded[i, :, oy[i]:oy[i] + 16, ox[i]:ox[i] + 16] for i in range(9)])
        ref = torch.stack([r.flip(2) if m else r for r, m in zip(ref, mirror)])
        assert torch.equal(ours, ref)
        assert flip == bool(mirror.any())  # the flipped case is exercised


def test_imagenet16_batch_files(tmp_path):
    """The downsampled ImageNet16 pickle format: CHW rows, 1-based labels, classes > 120 dropped."""
    import pickle

    rng = np.random.default_rng(0)
    for name in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
        labels = [1, 2, 120, 121, 1000]
        entry = {"data": rng.integers(0, 256, (5, 3 * 16 * 16), dtype=np.uint8), "labels": labels}
        with open(tmp_path / name, "wb") as fh:
            pickle.dump(entry, fh)
    data = load_arrays(DatasetSpec("imagenet16-120", str(tmp_path)))
    assert data.train_x.shape == (30, 16, 16, 3) and data.test_x.shape == (3, 16, 16, 3)
    assert data.train_y.max() == 119 and data.train_y.min() == 0 and data.num_classes == 120
    (tmp_path / "val_data").unlink()
    with pytest.raises(DataError, match="missing .*val_data"):
        load_arrays(DatasetSpec("imagenet16-120", str(tmp_path), split_seed=1))
