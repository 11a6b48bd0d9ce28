"""Datasets, seeded class-balanced splits, in-memory tensors and batch augmentation.

Sources:

* ``cifar10`` / ``cifar100``: an array folder (``train_x.npy`` uint8 NxHxWx3, ``train_y.npy``,
  ``test_x.npy``, ``test_y.npy``) when ``data_dir`` holds one, otherwise torchvision's
  dataset, downloaded into ``data_dir`` (default ``~/.cache/bpe/datasets``) on first use.
* ``imagenet16-120``: the standard downsampled batch files (``train_data_batch_1..10``,
  ``val_data``) in ``data_dir``; classes 1..120 are kept.
* ``folder``: any array folder; the number of classes is inferred from the labels.
* ``digits``: scikit-learn's 8x8 digits (shipped with scikit-learn, no download), grey
  replicated to 3 channels; a seeded stratified 80/20 train/test split.

Training always uses a split of the *train* images: ``valid_fraction`` of them (class
balanced, seeded by ``split_seed``) is held out for validation, like NAS-Bench-201's
``cifar10-valid`` (25k/25k).  Test images are never used for estimation.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from bpe.errors import DataError

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "ArrayData",
    "TensorSplit",
    "default_data_root",
    "load_arrays",
    "check_data_files",
    "class_balanced_split",
    "class_balanced_subset",
    "prepare_split",
    "augment_batch",
]

log = logging.getLogger(__name__)

DATASETS = ("cifar10", "cifar100", "imagenet16-120", "folder", "digits")
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "digits": 10}
#: What a run is evaluated on: a held-out part of the train images, or the test set.
HOLDOUTS = ("valid", "test")

ARRAY_FILES = ("train_x.npy", "train_y.npy", "test_x.npy", "test_y.npy")


def default_data_root() -> Path:
    """Where torchvision downloads go: ``$BPE_DATA_ROOT`` or ``~/.cache/bpe/datasets``."""
    return Path(os.environ.get("BPE_DATA_ROOT", Path.home() / ".cache" / "bpe" / "datasets"))


@dataclass(frozen=True)
class DatasetSpec:
    """Which data to use and how to split it.

    Attributes:
        name: one of :data:`DATASETS`.
        data_dir: array folder, torchvision root, or ImageNet16 folder (see module doc).
        valid_fraction: fraction of the train images held out for validation.
        split_seed: seed of the train/valid split and of data-fraction subsets (kept
            apart from the training seed so every arch sees the same images).
        download: allow torchvision to download CIFAR when no arrays are found.
        holdout: ``valid`` (the search protocol: train and validate on a split of the train
            images) or ``test`` (the final-evaluation protocol: train on all train images,
            evaluate on the test set; ``valid_fraction`` is then unused).
    """

    name: str
    data_dir: str | None = None
    valid_fraction: float = 0.5
    split_seed: int = 0
    download: bool = True
    holdout: str = "valid"

    def __post_init__(self) -> None:
        if self.holdout not in HOLDOUTS:
            raise DataError(f"unknown holdout '{self.holdout}'; choose one of {', '.join(HOLDOUTS)}")
        if self.name not in DATASETS:
            raise DataError(f"unknown dataset '{self.name}'; choose one of {', '.join(DATASETS)}")
        if not 0.0 < self.valid_fraction < 1.0:
            raise DataError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")
        if self.name == "digits" and self.data_dir is not None:
            raise DataError("dataset 'digits' ships with scikit-learn and takes no --data-dir; drop --data-dir "
                            "or use --dataset folder for your own arrays")
        if self.name == "folder" and self.data_dir is None:
            raise DataError("dataset 'folder' needs --data-dir pointing to train_x.npy/train_y.npy/test_x.npy/test_y.npy")
        if self.name == "imagenet16-120" and self.data_dir is None:
            raise DataError(
                "dataset 'imagenet16-120' needs --data-dir pointing to the folder with "
                "train_data_batch_1..10 and val_data (the downsampled ImageNet 16x16 files)"
            )
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(Path(self.data_dir).expanduser().resolve()))

    def fingerprint(self) -> dict:
        """Identity of the data for cache keys: name, split, and a content digest of the files
        (read once per spec: the digest is kept on it, and travels with it to workers)."""
        if self.holdout == "test":  # every train image, the test set: no validation split
            return {"name": self.name, "holdout": "test", "split_seed": self.split_seed, "content": self._content}
        return {  # the search protocol, as keyed before the holdout option existed
            "name": self.name,
            "valid_fraction": self.valid_fraction,
            "split_seed": self.split_seed,
            "content": self._content,
        }

    @cached_property
    def _content(self) -> str:
        # kept in the instance __dict__: not a field, so equality, hashing and repr ignore it
        return _content_digest(self)


@dataclass(frozen=True)
class ArrayData:
    """A dataset in memory: uint8 images ``(N, H, W, 3)`` and int64 labels."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    flip: bool = True


@dataclass
class TensorSplit:
    """Train/valid tensors ready for the training loop.

    Images are uint8 ``(N, 3, H, W)`` torch tensors (normalised per batch with ``mean``/``std``).
    """

    train_x: object
    train_y: object
    valid_x: object
    valid_y: object
    mean: object
    std: object
    num_classes: int
    flip: bool = True


# -- loading ------------------------------------------------------------------------
def _array_folder(path: Path) -> bool:
    return all((path / f).is_file() for f in ARRAY_FILES)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"cannot read {path} ({err}); the file is corrupt: re-create or re-download it") from None


def _check_arrays(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    if x.ndim != 4 or x.shape[-1] != 3:
        raise DataError(f"{where}_x must have shape (N, H, W, 3), got {x.shape}; store images as uint8 NHWC")
    if x.dtype != np.uint8:
        raise DataError(f"{where}_x must be uint8 (0..255), got {x.dtype}; convert with .astype(np.uint8)")
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x):
        raise DataError(f"{where}_y has {len(y)} labels but {where}_x has {len(x)} images; the files do not belong together")
    if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise DataError(f"{where}_y must hold non-negative integer labels, got dtype {y.dtype}")
    return x, y.astype(np.int64)


def _from_folder(name: str, path: Path, num_classes: int | None) -> ArrayData:
    train_x, train_y = _check_arrays(_load_npy(path / "train_x.npy"), _load_npy(path / "train_y.npy"), "train")
    test_x, test_y = _check_arrays(_load_npy(path / "test_x.npy"), _load_npy(path / "test_y.npy"), "test")
    seen = int(max(train_y.max(initial=0), test_y.max(initial=0))) + 1
    if num_classes is None:
        num_classes = seen
    elif seen > num_classes:
        raise DataError(f"{path}: labels go up to {seen - 1} but {name} has {num_classes} classes; wrong --dataset?")
    return ArrayData(name, train_x, train_y, test_x, test_y, num_classes)


def _from_torchvision(name: str, root: Path, download: bool) -> ArrayData:
    try:
        from torchvision import datasets
    except ImportError as err:  # pragma: no cover - torchvision is a dependency
        raise DataError(f"torchvision is needed for {name}: pip install torchvision ({err})") from None
    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except Exception as err:  # network or integrity errors
        raise DataError(
            f"could not load {name} from {root} ({err}); allow the download, or pass --data-dir with "
            f"train_x.npy/train_y.npy/test_x.npy/test_y.npy"
        ) from None
    return ArrayData(
        name,
        np.asarray(train.data, dtype=np.uint8),
        np.asarray(train.targets, dtype=np.int64),
        np.asarray(test.data, dtype=np.uint8),
        np.asarray(test.targets, dtype=np.int64),
        _NUM_CLASSES[name],
    )


def _load_imagenet16(path: Path, num_classes: int = 120) -> ArrayData:
    def read(file: Path) -> tuple[np.ndarray, np.ndarray]:
        if not file.is_file():
            raise DataError(f"missing {file}; ImageNet16-120 needs train_data_batch_1..10 and val_data in --data-dir")
        try:
            with open(file, "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
            x = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 16, 16).transpose(0, 2, 3, 1)
            y = np.asarray(entry["labels"], dtype=np.int64) - 1
        except Exception as err:
            raise DataError(f"cannot read {file} ({err}); the file is corrupt: download it again") from None
        keep = y < num_classes
        return x[keep], y[keep]

    parts = [read(path / f"train_data_batch_{i}") for i in range(1, 11)]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = read(path / "val_data")
    return ArrayData("imagenet16-120", train_x, train_y, test_x, test_y, num_classes)


def _load_digits() -> ArrayData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.clip(digits.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    x = np.repeat(x[..., None], 3, axis=-1)
    y = digits.target.astype(np.int64)
    train_idx, test_idx = class_balanced_split(y, 0.2, seed=0)
    return ArrayData("digits", x[train_idx], y[train_idx], x[test_idx], y[test_idx], 10, flip=False)


def check_data_files(spec: DatasetSpec) -> None:
    """Report a missing data folder (its digest) and a missing or corrupt data file now, before
    any work that would need them."""
    spec.fingerprint()
    load_arrays(spec)


@lru_cache(maxsize=2)
def load_arrays(spec: DatasetSpec) -> ArrayData:
    """Load a dataset into memory (cached per process, so parallel workers load it once)."""
    if spec.name == "digits":
        return _load_digits()
    path = Path(spec.data_dir) if spec.data_dir else None
    if path is not None and not path.is_dir():
        raise DataError(
            f"data directory {path} does not exist; pass --data-dir pointing to an existing folder "
            f"(train_x.npy, train_y.npy, test_x.npy, test_y.npy)"
        )
    if spec.name == "imagenet16-120":
        return _load_imagenet16(path)
    if path is not None and _array_folder(path):
        return _from_folder(spec.name, path, _NUM_CLASSES.get(spec.name))
    if spec.name == "folder":
        missing = [f for f in ARRAY_FILES if not (path / f).is_file()]
        raise DataError(f"{path} lacks {', '.join(missing)}; an array folder needs {', '.join(ARRAY_FILES)}")
    if path is not None and any(path.glob("*.npy")):
        missing = [f for f in ARRAY_FILES if not (path / f).is_file()]
        raise DataError(f"{path} lacks {', '.join(missing)}; an array folder needs {', '.join(ARRAY_FILES)}")
    return _from_torchvision(spec.name, path or default_data_root(), spec.download)


def _content_digest(spec: DatasetSpec) -> str:
    """Cheap digest of the data files (sizes plus head and tail bytes), or the source name."""
    if spec.name == "digits" or spec.data_dir is None:
        return f"builtin:{spec.name}"
    path = Path(spec.data_dir)
    if not path.is_dir():
        raise DataError(
            f"data directory {path} does not exist; pass --data-dir pointing to an existing folder "
            f"(train_x.npy, train_y.npy, test_x.npy, test_y.npy)"
        )
    digest = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with open(file, "rb") as fh:
            digest.update(fh.read(1 << 16))
            if size > 1 << 17:
                fh.seek(-(1 << 16), os.SEEK_END)
                digest.update(fh.read())
    return digest.hexdigest()[:16]


# -- splits -------------------------------------------------------------------------
def class_balanced_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held-out) with ``fraction`` of each class held out (seeded)."""
    rng = np.random.default_rng(seed)
    rest, held = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(fraction * len(idx)))
        held.append(idx[:k])
        rest.append(idx[k:])
    return np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))


def class_balanced_subset(indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A seeded, class-balanced ``fraction`` of ``indices`` (at least one per class)."""
    if fraction >= 1.0:
        return indices
    rng = np.random.default_rng(seed)
    keep = []
    sub_labels = labels[indices]
    for c in np.unique(sub_labels):
        idx = indices[sub_labels == c]
        k = max(1, int(round(fraction * len(idx))))
        keep.append(idx[rng.permutation(len(idx))[:k]])
    return np.sort(np.concatenate(keep))


@lru_cache(maxsize=4)
def prepare_split(spec: DatasetSpec, data_fraction: float = 1.0) -> TensorSplit:
    """Train and held-out tensors for ``spec`` (cached per process).  Search protocol: the train
    and validation splits of the train images, ``data_fraction`` of each.  ``spec.holdout ==
    'test'``: ``data_fraction`` of every train image (twice the images of the search protocol at
    the same fraction) and the whole test set, never thinned, as ``valid_*``."""
    import torch

    data = load_arrays(spec)

    def to_tensor(x: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x[idx].transpose(0, 3, 1, 2)))

    if spec.holdout == "test":  # final evaluation: all train images (data_fraction of them), the whole test set
        train_idx = class_balanced_subset(np.arange(len(data.train_y)), data.train_y, data_fraction,
                                          spec.split_seed + 1)
        hold_x, hold_y, hold_idx = data.test_x, data.test_y, np.arange(len(data.test_y))
    else:
        train_idx, valid_idx = class_balanced_split(data.train_y, spec.valid_fraction, spec.split_seed)
        train_idx = class_balanced_subset(train_idx, data.train_y, data_fraction, spec.split_seed + 1)
        hold_idx = class_balanced_subset(valid_idx, data.train_y, data_fraction, spec.split_seed + 2)
        hold_x, hold_y = data.train_x, data.train_y
    train_x = to_tensor(data.train_x, train_idx)
    mean = train_x.float().mean(dim=(0, 2, 3)) / 255.0
    std = (train_x.float() / 255.0).std(dim=(0, 2, 3)).clamp_min(1e-3)
    return TensorSplit(
        train_x=train_x,
        train_y=torch.from_numpy(data.train_y[train_idx]),
        valid_x=to_tensor(hold_x, hold_idx),
        valid_y=torch.from_numpy(hold_y[hold_idx]),
        mean=mean,
        std=std,
        num_classes=data.num_classes,
        flip=data.flip,
    )


# -- augmentation -------------------------------------------------------------------
def normalize(x_uint8, mean, std, size: int | None = None):
    """uint8 NCHW -> normalised float, resized to ``size`` when given."""
    import torch.nn.functional as F

    x = x_uint8.float().div_(255.0).sub_(mean[None, :, None, None]).div_(std[None, :, None, None])
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return x


def augment_batch(x, generator, *, flip: bool = True, cutout: int = 0, size: int | None = None):
    """Random crop (zero pad H/8) and horizontal flip of a float NCHW batch, then resize to
    ``size`` and apply cutout (a ``cutout`` x ``cutout`` zero square at a random centre).

    Random numbers come from the CPU ``generator`` (so results do not depend on the device);
    the work runs on ``x.device``.
    """
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    dev = x.device
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(dev)
    flipped = (torch.rand(n, generator=generator) < 0.5).to(dev) if flip else None
    x = _crop_flip(padded, oy, ox, flipped, h, w)
    if size is not None and size != w:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < w)
    if cutout > 0:
        s = x.shape[-1]
        cy = torch.randint(0, s, (n,), generator=generator).to(dev)
        cx = torch.randint(0, s, (n,), generator=generator).to(dev)
        ar = torch.arange(s, device=dev)
        in_y = (ar[None, :] >= (cy[:, None] - cutout // 2)) & (ar[None, :] < (cy[:, None] - cutout // 2 + cutout))
        in_x = (ar[None, :] >= (cx[:, None] - cutout // 2)) & (ar[None, :] < (cx[:, None] - cutout // 2 + cutout))
        hole = in_y[:, :, None] & in_x[:, None, :]
        x = x.masked_fill(hole[:, None, :, :], 0.0)
    return x


def _crop_flip(padded, oy, ox, flipped, h: int, w: int):
    """Per-image crops ``padded[i, :, oy[i]:oy[i]+h, ox[i]:ox[i]+w]``, mirrored left-right where
    ``flipped[i]`` (``None``: none is), in one gather over each image's flattened pixels (3x faster
    on CPU than a gather per axis and a separate flip; the same values)."""
    import torch

    n, c, hp, wp = padded.shape
    ar_h, ar_w = torch.arange(h, device=padded.device), torch.arange(w, device=padded.device)
    along = ar_w[None, :] if flipped is None else torch.where(flipped[:, None], w - 1 - ar_w, ar_w)
    cols = ox[:, None] + along
    flat = ((oy[:, None] + ar_h[None, :])[:, :, None] * wp + cols[:, None, :]).view(n, 1, h * w)
    return padded.reshape(n, c, hp * wp).gather(2, flat.expand(n, c, h * w)).view(n, c, h, w)
