"""ReNAS-style relativistic performance predictor (Xu et al., CVPR 2021).

A small CNN maps an architecture's feature tensor (:mod:`bpe.spaces.nb201.features`) to a
scalar and is trained to *rank*: the pairwise logistic loss over every ordered pair in a batch,
``mean_{i≠j} log(1 + exp(−(o_i − o_j)·sign(y_i − y_j)))``.  ``loss="mse"`` trains the same
network by regression on standardized targets (the baseline).  scikit-learn conventions:
``fit`` returns self, fitted attributes end in ``_``, ``predict`` before ``fit`` raises.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import NotFittedError
from torch import nn

from bpe.errors import BPEError, EstimatorError
from bpe.estimators import register_estimator
from bpe.estimators.base import Estimator
from bpe.metrics import bootstrap_ci, kendall, spearman
from bpe.records import Cost, EvalRecord
from bpe.runtime import EVAL_THREADS, torch_threads
from bpe.spaces import get_space
from bpe.spaces.nb201.features import N_CHANNELS

__all__ = ["RankingPredictor", "RenasEstimator", "holdout_evaluation", "pairwise_logistic_loss"]

LOSSES = ("pairwise", "mse")


def pairwise_logistic_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over ordered pairs i≠j with y_i ≠ y_j of log(1 + exp(−(o_i − o_j)·sign(y_i − y_j)))."""
    diff = outputs[:, None] - outputs[None, :]
    sign = torch.sign(targets[:, None] - targets[None, :])
    mask = sign != 0
    if not mask.any():
        return outputs.sum() * 0.0
    return F.softplus(-diff[mask] * sign[mask]).mean()


def _best_epoch(valid_kendall: Sequence[float], window: int) -> int:
    """1-based epoch with the best held-out Kendall tau averaged over ``window`` epochs around it
    (a small held-out set gives a noisy curve; its smoothed peak is a steadier choice)."""
    curve = np.asarray(valid_kendall, dtype=float)
    w = max(1, min(int(window), len(curve)))
    if w == 1:
        return int(np.argmax(curve)) + 1
    kernel = np.ones(w)  # a centred mean; near the ends over the epochs that exist (no zero padding)
    smoothed = np.convolve(curve, kernel, mode="same") / np.convolve(np.ones(len(curve)), kernel, mode="same")
    return int(np.argmax(smoothed)) + 1


class _RankNet(nn.Module):
    """Two conv layers over the cell's feature tensor (NB201), or, for a space without one, two
    fully connected layers over its decision encoding (``flat``: its width); the optional
    per-arch extra inputs (e.g. a training-free score) join before the fully connected head."""

    def __init__(self, hidden: int, n_extra: int = 0, flat: int | None = None) -> None:
        super().__init__()
        if flat is None:
            self.trunk = nn.Sequential(
                nn.Conv2d(N_CHANNELS, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.Flatten(),
            )
            width = 64 * 16
        else:
            self.trunk = nn.Sequential(nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
            width = 64
        self.head = nn.Sequential(nn.Linear(width + n_extra, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.trunk(x), extra], dim=1)).squeeze(1)


class RankingPredictor:
    """Predicts a score whose order follows the targets'.

    Args:
        loss: ``pairwise`` (ReNAS) or ``mse`` (regression baseline).
        epochs: maximum training epochs.
        batch_size: archs per mini-batch (all ordered pairs inside it are used).
        learning_rate, weight_decay: Adam settings.
        valid_fraction: part of the training archs held out to choose the number of epochs
            (early stopping on its Kendall tau); the predictor is then refit on all archs for
            that many epochs.  Used only when that part holds at least ``min_valid`` archs:
            Kendall tau on fewer is too noisy to choose an epoch by (measured on NB201, 3 seeds:
            156 archs 0.648 early-stopped vs 0.663 with fixed epochs; 16 archs 0.20 vs 0.34), so
            smaller training sets train for ``epochs``.
        min_valid: the smallest held-out part early stopping is used with.
        smooth: epochs the held-out Kendall curve is averaged over before taking its peak.
        patience: epochs without a held-out Kendall improvement before stopping.
        hidden: width of the fully connected layer.
        seed: seed of the held-out split, the initialisation and the batch order.
        channels, image_size: the network size the FLOPs/params features describe (NB201).
        space: the search space; one with cell features (NB201's ``predictor_features``) feeds
            them to the conv trunk, any other its one-hot decision encoding to an MLP trunk.
    """

    def __init__(self, loss: str = "pairwise", *, epochs: int = 300, batch_size: int = 64,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, valid_fraction: float = 0.2,
                 patience: int = 60, min_valid: int = 50, smooth: int = 1, hidden: int = 64, seed: int = 0,
                 channels: int = 16, image_size: int = 32, space: str = "nb201") -> None:
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.valid_fraction = valid_fraction
        self.patience = patience
        self.smooth = smooth
        self.min_valid = min_valid
        self.hidden = hidden
        self.seed = seed
        self.channels = channels
        self.image_size = image_size
        self.space = space

    # -- helpers -------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention): every parameter of ``__init__``, read
        from its signature (the constructor stores each under its own name)."""
        params = inspect.signature(type(self).__init__).parameters.values()
        return {p.name: getattr(self, p.name) for p in params
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def _raw(self, archs: Sequence[Any]) -> np.ndarray:
        """The space's cell features (NB201) or its decision encoding (any other space)."""
        space = get_space(self.space)
        if hasattr(space, "predictor_features"):
            return space.predictor_features(archs, channels=self.channels, image_size=self.image_size)
        return space.encode(list(archs)).astype(np.float32)

    def _flat(self) -> int | None:
        return None if hasattr(get_space(self.space), "predictor_features") else int(sum(get_space(self.space).decisions()))

    def _features(self, archs: Sequence[Any]) -> torch.Tensor:
        x = self._raw(archs)
        return torch.from_numpy(((x - self.mean_) / self.std_).astype(np.float32))

    def _extra(self, extra: Any, n: int) -> np.ndarray:
        """Per-arch extra inputs as an (n, k) float array (k = 0 when none)."""
        if extra is None:
            return np.zeros((n, 0))
        e = np.asarray(extra, dtype=np.float64)
        e = e[:, None] if e.ndim == 1 else e
        if e.ndim != 2 or len(e) != n:
            raise BPEError(f"extra inputs must be one row per arch ({n}), got shape {np.shape(extra)}")
        return e

    def _standardized_extra(self, extra: Any, n: int) -> torch.Tensor:
        e = self._extra(extra, n)
        if e.shape[1] != self.n_extra_:
            raise BPEError(f"this predictor was fitted with {self.n_extra_} extra input(s) per arch, got {e.shape[1]}")
        e = np.where(np.isfinite(e), e, self.extra_fill_)  # a missing score takes the training median
        return torch.from_numpy((e - self.extra_mean_) / self.extra_std_).float()

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pairwise_logistic_loss(out, y) if self.loss == "pairwise" else F.mse_loss(out, y)

    # -- scikit-learn API ---------------------------------------------------------------
    def fit(self, archs: Sequence[Any], targets: Sequence[float], extra: Any = None) -> RankingPredictor:
        """Train on ``archs`` with ``targets`` (higher = better); returns self.

        ``extra``: optional per-arch inputs, shape (n,) or (n, k) — e.g. a training-free score or
        a cheap proxy accuracy — standardized with training statistics (non-finite values take
        the training median); :meth:`predict` then needs the same inputs.
        """
        if self.loss not in LOSSES:
            raise EstimatorError(f"loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        y = np.asarray(targets, dtype=np.float64)
        if len(archs) != len(y):
            raise BPEError(f"got {len(archs)} archs but {len(y)} targets")
        e = self._extra(extra, len(y))
        keep = np.isfinite(y)
        archs, y, e = [a for a, k in zip(archs, keep) if k], y[keep], e[keep]
        if len(archs) < 2:
            raise BPEError(f"a ranking predictor needs at least 2 archs with finite targets, got {len(archs)}")
        if np.ptp(y) == 0:
            raise BPEError("all targets are equal: there is no ranking to learn")
        raw = self._raw(archs)
        axes = (0, 2, 3) if raw.ndim == 4 else (0,)  # per channel (cell features) or per column
        self.mean_ = raw.mean(axis=axes, keepdims=True)[0]  # training-set statistics only
        self.std_ = raw.std(axis=axes, keepdims=True)[0] + 1e-6
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() + 1e-12)
        self.n_extra_ = e.shape[1]
        finite = [col[np.isfinite(col)] for col in e.T]
        self.extra_fill_ = np.array([np.median(c) if len(c) else 0.0 for c in finite])
        self.extra_mean_ = np.array([c.mean() if len(c) else 0.0 for c in finite])
        self.extra_std_ = np.array([c.std() + 1e-12 if len(c) else 1.0 for c in finite])
        x = torch.from_numpy(((raw - self.mean_) / self.std_).astype(np.float32))
        ex = self._standardized_extra(e, len(y))
        t = torch.from_numpy((y - self.y_mean_) / self.y_std_).float()
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(y))
        n_valid = int(round(self.valid_fraction * len(y)))
        n_valid = n_valid if n_valid >= max(2, self.min_valid) and len(y) - n_valid >= 2 else 0
        history: list[dict[str, float]] = []
        epochs = self.epochs
        with torch_threads(EVAL_THREADS):  # small batches: extra threads cost more than they give (most on a busy CPU)
            if n_valid:  # choose the number of epochs by the held-out ranking, then refit on everything
                _, history = self._train(x, ex, t, order[n_valid:], order[:n_valid], self.epochs)
                epochs = _best_epoch([r["valid_kendall"] for r in history], self.smooth)
            model, final = self._train(x, ex, t, order, None, epochs)
        model.eval()
        self.model_ = model
        self.history_ = final  # the refit on every arch
        self.selection_history_ = history  # the held-out run that chose the number of epochs
        self.n_train_ = len(y)
        return self

    def _train(self, x: torch.Tensor, ex: torch.Tensor, t: torch.Tensor, train: np.ndarray, valid: np.ndarray | None,
               epochs: int) -> tuple[nn.Module, list[dict[str, float]]]:
        """Adam on ``train`` for ``epochs`` (stopping ``patience`` epochs after the held-out
        Kendall tau last improved, when ``valid`` is given)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = _RankNet(self.hidden, ex.shape[1], self._flat())
            gen = torch.Generator().manual_seed(self.seed)
            opt = torch.optim.Adam(model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay)
            best, stale, history = -math.inf, 0, []
            for epoch in range(epochs):
                model.train()
                perm = torch.from_numpy(train)[torch.randperm(len(train), generator=gen)]
                losses = []
                for start in range(0, len(perm), self.batch_size):
                    idx = perm[start:start + self.batch_size]
                    if len(idx) < 2:
                        continue
                    loss = self._loss(model(x[idx], ex[idx]), t[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                record = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else math.nan}
                if valid is not None:
                    model.eval()
                    with torch.no_grad():
                        tau = kendall(list(model(x[valid], ex[valid]).numpy()), list(t[valid].numpy()))
                    record["valid_kendall"] = tau if math.isfinite(tau) else -1.0
                    stale = 0 if record["valid_kendall"] > best + 1e-9 else stale + 1
                    best = max(best, record["valid_kendall"])
                history.append(record)
                if valid is not None and stale >= self.patience:
                    break
        return model, history

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this RankingPredictor is not fitted yet: call fit(archs, targets) first")

    @torch.no_grad()
    def predict(self, archs: Sequence[Any], extra: Any = None, *, batch: int = 4096) -> np.ndarray:
        """Predicted scores (higher = better; for ``mse`` in the targets' units); ``extra`` as in
        :meth:`fit` when the predictor was fitted with extra inputs."""
        self._check_fitted()
        ex = self._standardized_extra(extra, len(archs))
        outs = []
        for start in range(0, len(archs), batch):
            chunk = archs[start:start + batch]
            outs.append(self.model_(self._features(chunk), ex[start:start + batch]).numpy())
        out = np.concatenate(outs) if outs else np.zeros(0)
        return out * self.y_std_ + self.y_mean_ if self.loss == "mse" else out

    def score(self, archs: Sequence[Any], targets: Sequence[float], extra: Any = None) -> float:
        """Kendall tau between predictions and ``targets``."""
        return kendall(list(self.predict(archs, extra)), list(targets))

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted predictor (parameters, statistics, weights) to ``path``."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + path.name + ".tmp")
        torch.save({"params": self.get_params(), "mean": self.mean_, "std": self.std_, "y_mean": self.y_mean_,
                    "y_std": self.y_std_, "state": self.model_.state_dict(), "n_train": self.n_train_,
                    "extra": [self.n_extra_, self.extra_fill_, self.extra_mean_, self.extra_std_],
                    "history": self.history_}, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RankingPredictor:
        """Read a predictor written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise EstimatorError(f"predictor file {path} does not exist; train one with `bpe predictor fit --out {path}`")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=False)
            self = cls(**blob["params"])
            self.mean_, self.std_ = blob["mean"], blob["std"]
            self.y_mean_, self.y_std_ = blob["y_mean"], blob["y_std"]
            self.n_extra_, self.extra_fill_, self.extra_mean_, self.extra_std_ = blob["extra"]
            self.model_ = _RankNet(self.hidden, self.n_extra_, self._flat())
            self.model_.load_state_dict(blob["state"])
        except Exception as err:  # unpickling errors come in many types

            raise EstimatorError(f"cannot read predictor file {path} ({err}); it is corrupt or not a bpe predictor") from None
        self.model_.eval()
        self.n_train_, self.history_ = blob.get("n_train"), blob.get("history", [])
        return self


@register_estimator("renas")
class RenasEstimator(Estimator):
    """Score = a saved :class:`RankingPredictor`'s prediction (milliseconds per arch).

    Args:
        path: the file written by ``bpe predictor fit --out PATH``.
    """

    reads_data = False  # predicts from the arch string

    cheap = True

    @classmethod
    def from_context(cls, context: Any) -> RenasEstimator:
        if not context.path:
            raise BPEError("estimator 'renas' reads a saved predictor: pass --estimator PATH.pt "
                           "(written by `bpe predictor fit`)")
        return cls(path=context.path)

    @classmethod
    def tiny(cls, context: Any) -> RenasEstimator:
        archs = context.truth.archs()
        metric = context.metric or context.truth.default_metric
        predictor = RankingPredictor(seed=0, epochs=5, valid_fraction=0.0).fit(
            archs, [context.truth.query(a, metric) for a in archs])
        return cls(path=predictor.save(Path(context.workdir) / "tiny_renas.pt"))

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._predictor: RankingPredictor | None = None

    def predictor(self) -> RankingPredictor:
        """The loaded predictor (read once)."""
        if self._predictor is None:
            if self.path is None:
                raise EstimatorError("estimator 'renas' needs a predictor file: --estimator renas:PATH.pt")
            predictor = RankingPredictor.load(self.path)
            if predictor.n_extra_:
                raise EstimatorError(f"{self.path} was fitted with {predictor.n_extra_} extra input(s) per arch, which "
                                     "the renas estimator cannot supply; use RankingPredictor.predict(archs, extra) "
                                     "from Python, or fit without extra inputs")
            self._predictor = predictor
        return self._predictor

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16] if self.path and self.path.is_file() else None
        return {"estimator": self.name, "file": str(self.path), "sha256": digest}

    def _evaluate(self, arch: str) -> EvalRecord:
        return EvalRecord(arch=arch, score=float(self.predictor().predict([arch])[0]), status="ok", cost=Cost())

    def describe(self) -> str:
        return f"renas({self.path})"


def holdout_evaluation(archs: Sequence[str], targets: Sequence[float], *, train_size: int, seed: int,
                       loss: str = "pairwise", extra: Any = None, test_size: int | None = None,
                       **params: Any) -> dict[str, Any]:
    """Fit on ``train_size`` seeded archs and rank the remaining ones (the first ``test_size`` of
    them in the seeded order, or all; ``extra``: optional per-arch inputs aligned with ``archs``,
    see :meth:`RankingPredictor.fit`).

    Returns Kendall tau and Spearman rho on the remaining archs (with bootstrap 95% CIs), the
    seconds to fit and to score them all, and the sizes.
    """
    y = np.asarray(targets, dtype=float)
    usable = np.flatnonzero(np.isfinite(y))
    if not 2 <= train_size < len(usable):
        raise BPEError(f"--train-size must be in 2..{len(usable) - 1} (archs with a finite target), got {train_size}")
    order = np.random.default_rng(seed).permutation(usable)
    train, rest = order[:train_size], order[train_size:][:test_size]
    start = time.perf_counter()
    e = None if extra is None else np.asarray(extra, dtype=float)
    predictor = RankingPredictor(loss, seed=seed, **params).fit([archs[i] for i in train], y[train],
                                                                None if e is None else e[train])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pred = predictor.predict([archs[i] for i in rest], None if e is None else e[rest])
    predict_seconds = time.perf_counter() - start
    truth = list(y[rest])
    return {
        "kendall": kendall(list(pred), truth),
        "spearman": spearman(list(pred), truth),
        "kendall_ci95": list(bootstrap_ci(list(pred), truth, method="kendall", n_boot=100, seed=seed)),
        "spearman_ci95": list(bootstrap_ci(list(pred), truth, method="spearman", n_boot=200, seed=seed)),
        "train_size": int(train_size),
        "n_test": int(len(rest)),
        "loss": loss,
        "seed": seed,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "epochs": len(predictor.history_),
        "train_archs": [archs[i] for i in train],
        "predictor": predictor,
    }
