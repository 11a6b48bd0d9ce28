"""Arguments and helpers shared by the ``bpe`` subcommands (parsing only: no library logic)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from bpe.errors import BPEError

__all__ = ["add_data_args", "add_run_args", "add_seed_arg", "runner_from_args", "nonneg", "positive"]


def nonneg(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return value


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _jobs(text: str) -> int:
    """``--jobs``: N workers, or a negative number as joblib reads it (-1: all cores)."""
    value = _int(text)
    cores = os.cpu_count() or 1
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1, or negative as in joblib (-1: all cores)")
    return value if value > 0 else max(1, cores + 1 + value)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None


def add_verbosity(p: argparse.ArgumentParser, *, top: bool) -> None:
    """``-v``/``--quiet``, accepted before and after the subcommand."""
    default: Any = 0 if top else argparse.SUPPRESS
    p.add_argument("-v", "--verbose", action="count", default=default, help="more log output (-vv for debug)")
    p.add_argument("-q", "--quiet", action="store_true", default=False if top else argparse.SUPPRESS,
                   help="no progress bars and no informational logs")


def add_seed_arg(p: argparse.ArgumentParser, what: str = "the arch sample") -> None:
    p.add_argument("--seed", type=nonneg, default=0,
                   help=f"seed of {what} (default: 0); samples of one seed are nested: the first N of one "
                        "seeded permutation, so growing --archs reuses the cache")


def add_data_args(p: argparse.ArgumentParser, *, holdout: bool = False) -> None:
    """``--space``, ``--dataset``, ``--data-dir``, ``--device`` (and ``--holdout`` where a command
    may evaluate on the test set)."""
    from bpe.data import DATASETS, HOLDOUTS

    p.add_argument("--space", default="nb201", help="search space (default: nb201)")
    p.add_argument("--dataset", default="digits", choices=DATASETS,
                   help="dataset to train/score on (default: digits, shipped with scikit-learn)")
    p.add_argument("--data-dir", default=None,
                   help="array folder (train_x.npy, ...) or torchvision root; CIFAR is downloaded when absent")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda (default: auto)")
    if holdout:
        p.add_argument("--holdout", default="valid", choices=HOLDOUTS,
                       help="valid: train on half the train images, report on the other half (the search "
                            "protocol); test: train on all train images, report on the test set (final "
                            "evaluation of a found arch) (default: valid)")


def dataset_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~bpe.data.DatasetSpec` the data arguments name."""
    from bpe.data import DatasetSpec

    return DatasetSpec(args.dataset, args.data_dir, holdout=getattr(args, "holdout", "valid"))


def add_run_args(p: argparse.ArgumentParser) -> None:
    from bpe.parallel import BACKENDS

    p.add_argument("--jobs", type=_jobs, default=1,
                   help="parallel workers (default: 1; -1 all cores, as in joblib); each evaluation uses one "
                        "thread, so scores do not depend on --jobs")
    p.add_argument("--backend", default="loky", choices=BACKENDS,
                   help="joblib backend: loky (local processes), dask or ray (default: loky)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler or Ray address; without it a local cluster of --jobs workers is started")
    p.add_argument("--cache-dir", default=None,
                   help="evaluation cache (default: $BPE_CACHE_DIR, else the platform cache folder, "
                        "on Linux $XDG_CACHE_HOME/bpe/evals)")
    p.add_argument("--no-cache", action="store_true", help="recompute everything and store nothing")


def check_device(device: str, *, local: bool) -> None:
    """Refuse a device name torch does not know, before any work (even when every result is
    cached); ``cuda`` without a GPU too when the work runs here (``local``): a cluster's workers
    may have the GPU the coordinating machine lacks."""
    import torch  # torch-heavy

    from bpe.runtime import resolve_device

    if device in ("auto", "cpu"):
        return
    if local:
        resolve_device(device)
        return
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise BPEError(f"unsupported device '{device}'; use auto, cpu or cuda")


def runner_from_args(args: argparse.Namespace):
    """The :class:`~bpe.parallel.Runner` the run arguments describe (the cache folder is checked)."""
    from bpe.cache import EvalCache, default_cache_dir
    from bpe.parallel import Runner

    if getattr(args, "device", None) is not None:
        check_device(args.device, local=args.backend == "loky")
    cache = None
    if not args.no_cache:
        root = args.cache_dir or default_cache_dir()
        cache = EvalCache(root)
        cache.check_usable()
    return Runner(jobs=args.jobs, backend=args.backend, scheduler=args.scheduler, cache=cache,
                  progress=not args.quiet)


def check(condition: bool, message: str) -> None:
    """Raise the one-line user error ``message`` unless ``condition``."""
    if not condition:
        raise BPEError(message)
