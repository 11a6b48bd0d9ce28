"""AZ-NAS (Lee & Ham, CVPR 2024): four training-free measures of an untrained network
(expressivity, progressivity, trainability, complexity), each turned into a rank within the
archs scored together, assembled by a sum of log-ranks.

The authors' NAS-Bench-201 protocol, as their code runs it (cvlab-yonsei/AZ-NAS,
``NB201/ZeroShotProxy/compute_az_nas_score.py``, driven by ``NB201/tss_general.ipynb`` on the
network of ``NB201/custom/tss_model.py``):

* Network: the benchmark's macro network at C=16 and N=5 cells per stage, in train mode (every
  BatchNorm normalises with the statistics of the batch).  Before scoring, every Conv2d and
  Linear weight is redrawn from a Kaiming normal with fan-in and ReLU gain (standard deviation
  ``sqrt(2 / fan_in)``), biases are zeroed and BatchNorm scales and shifts set to 1 and 0.
* Input: 64 images of standard normal noise at 32 px.  AZ-NAS is not among the scorers the
  notebook feeds real images; the batch size and resolution are those of its CIFAR loader
  (``configs/nas-benchmark/algos/weight-sharing.config``: 64).  No labels are used.
* Feature maps: the stem's output and the output of every one of the 3N+2 cells (the two
  residual reduction blocks included): 18 maps at N=5.
* Expressivity: for each map, the covariance of its channel vectors over all B*H*W positions
  (centred, divided by their count); its eigenvalues, divided by their sum, form a distribution
  ``p`` whose entropy ``H = -sum p log(p + 1e-8)`` is the map's expressivity.  The score is the
  sum of ``H`` over the maps.
* Progressivity: the smallest increase of ``H`` from one map to the next (``min_l H_l - H_{l-1}``).
* Trainability: for each cell, last first, a probe ``v`` of independent +-1 entries (Bernoulli
  1/2) shaped like the cell's output is pulled back through that cell alone (a vector-Jacobian
  product with respect to the cell's input; BatchNorm's batch statistics included).  When the
  output is spatially smaller (a reduction block), the pulled-back ``u`` is pixel-unshuffled by
  the stride, so that each output position faces the channels of the input block it covers.
  With ``n`` output positions (B*H*W), ``M = (1/n) sum_positions u v^T`` estimates the cell's
  Jacobian between channel vectors, and the cell contributes ``-sigma - 1/(sigma + 1e-6) + 2``,
  ``sigma`` the largest singular value of ``M``: 0 when ``sigma = 1`` (gradients keep their
  size), negative otherwise.  The score is the mean over the cells.  A cell that returns the
  probe unchanged (it passes its input straight through) makes the score minus infinity.
* Complexity: the FLOPs the NATS-Bench API records for the arch.
* A measure that comes out NaN (e.g. the all-zero maps after a cell with no path to its
  output: their eigenvalues sum to 0) is also set to minus infinity.
* Assembly over a population of ``n`` archs: ``sum_m log(rank_m / n)`` over the four measures,
  ``rank_m`` the arch's rank under measure ``m`` (``scipy.stats.rankdata``: ties share their
  mean rank, the highest value gets ``n``); a bad rank costs more than a good rank earns.

What we do: the same measures with the same constants (batch 64, N(0, 1) inputs, the
fan-in Kaiming init, train-mode BatchNorm, the 1e-8 and 1e-6 offsets), on the network
:class:`~bpe.estimators.zero_cost.TrainingFreeEstimator` builds (NB201 by default at C=16,
N=5, 32 px; any space whose network has ``stem`` and ``cells`` works, each cell's features
measured against those of the cell before).  Differences (only the arithmetic changes more
than the last digits, and only for some archs):

* Seeding: one CPU ``torch.Generator`` seeded with ``seed`` draws, in this order, the weights
  (module order, each on a contiguous CPU tensor, so nothing depends on the device or the
  memory layout), the noise input and the probes (last cell first).  That is the order in which
  the authors' code draws from torch's global generator, so after ``torch.manual_seed(seed)`` on
  a CPU their code gets the same weights, input and probes (``experiments/az_nas_agreement.py``
  checks it).  ``inputs="data"`` scores a seeded batch of train images instead of noise.
* Each cell's input is cut from the graph above it, so the pull-back runs through that cell
  only, also after a cell whose output is constant zeros (our cells skip ``none`` edges where
  the authors multiply by 0: the same values, but no graph to differentiate).
* Covariances, eigenvalues and singular values are computed in float64; theirs in float32,
  where the maps of nets made mostly of skips and pools (activations growing to 1e7 through
  the cells, channels nearly collinear) give a covariance whose smallest eigenvalues round
  below -1e-8 of the sum, a NaN entropy, so expressivity and progressivity -inf: 13 of 200
  seeded NB201 archs on one CPU (arch seed 1, seed 0), all with finite float64 values that
  rank low anyway (expressivity ranks 4-26 of 200).  ``precision="float32"`` reproduces their
  arithmetic (and those undefined values, as far as the rounding of the machine allows).
* Complexity is counted on the built network (:func:`bpe.flops.count_macs`: convolution and
  linear multiply-accumulates, in millions, as the ``flops`` scorer): NATS-Bench's FLOPs add
  the classifier's 10 bias additions, the same for every arch, so the ranks are the same.
* A measure the authors set to minus infinity is *undefined* here (never a number): the scorer
  of that measure records a failure with the reason, and in the assembly the arch ranks last
  under that measure, tied with every arch undefined there (where minus infinity ranks).
* The assembly is :func:`~bpe.estimators.vote.log_rank_sum` (:func:`~bpe.estimators.vote.rank_average`
  with ``log=True``: the mean of the log-ranks, times the number of measures: the authors' sum).

Registered: ``az_nas``, the assembly, which ranks the archs it is given together (as a vote, it
cannot score one arch alone); ``az_expressivity``, ``az_progressivity`` and ``az_trainability``,
one measure each, scored arch by arch.  All of them read one cached measurement per arch: its
record holds every measure in ``info`` (complexity as its score, the one measure that is always
defined) and each scorer reads its own in :meth:`~bpe.estimators.base.Estimator.finalize`.
Complexity alone is the ``flops`` scorer.  Cost: one forward pass and one pull-back through
every cell.  Higher is better for every score.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bpe.data import DatasetSpec
from bpe.errors import ConfigError, EstimatorError
from bpe.estimators import register_estimator
from bpe.estimators.base import Estimator
from bpe.estimators.vote import log_rank_sum
from bpe.estimators.zero_cost import TrainingFreeEstimator, _hooks, kaiming_fan_in_init
from bpe.flops import count_macs, count_params
from bpe.records import Cost, EvalRecord
from bpe.runtime import layout_name, resolve_device

__all__ = [
    "AZNAS",
    "AZExpressivity",
    "AZNASMeasurement",
    "AZProgressivity",
    "AZTrainability",
    "COMPONENTS",
    "MEASURES",
    "components",
    "eigen_entropy",
    "measure_network",
    "rademacher_probe",
    "spectral_trainability",
]

#: The measures read off the network, in the authors' order.
MEASURES: tuple[str, ...] = ("expressivity", "progressivity", "trainability")
#: Everything the assembly ranks: the three measures and the network's complexity.
COMPONENTS: tuple[str, ...] = (*MEASURES, "complexity")
#: Offset inside the entropy's logarithm (authors' value).
ENTROPY_EPS = 1e-8
#: Offset in the trainability term's ``1 / (sigma + eps)`` (authors' value).
SIGMA_EPS = 1e-6
INPUTS = ("gaussian", "data")
PRECISIONS = {"float64": torch.float64, "float32": torch.float32}


# -- pure functions (tested against hand-computed cases) -----------------------------------
def eigen_entropy(feature: torch.Tensor, dtype: torch.dtype = torch.float64) -> float:
    """Entropy of the normalised eigenvalue spectrum of the channel covariance of ``feature``
    (shape (B, C, ...)): ``-sum p log(p + 1e-8)``, ``p = lambda / sum(lambda)`` over the
    eigenvalues of the centred covariance of the C-dim vectors at all B*... positions (divided
    by their count), computed in ``dtype``.  ``nan`` when the spectrum sums to 0 (a constant
    map) or an eigenvalue rounds below ``-1e-8`` of the sum."""
    f = feature.detach().to(dtype)
    rows = f.movedim(1, -1).reshape(-1, f.shape[1])
    rows = rows - rows.mean(dim=0, keepdim=True)
    cov = rows.T @ rows / rows.shape[0]
    eig = torch.linalg.eigvalsh(cov)
    total = float(eig.sum())
    if not total > 0:
        return math.nan
    p = eig / total
    return float(-(p * torch.log(p + ENTROPY_EPS)).sum())


def spectral_trainability(g_in: torch.Tensor, g_out: torch.Tensor, dtype: torch.dtype = torch.float64) -> float:
    """One cell's trainability term from a probe ``g_out`` (B, Co, Ho, Wo) and its pull-back
    ``g_in`` (B, Ci, Hi, Wi): ``-sigma - 1/(sigma + 1e-6) + 2`` with ``sigma`` the largest
    singular value of ``(1/n) sum_positions g_in g_out^T`` (``g_in`` pixel-unshuffled by
    ``Hi // Ho`` when the cell reduces; n = B*Ho*Wo positions), in ``dtype``.  ``nan`` when the
    pull-back is the probe itself (the cell passes its input through: the authors' -inf)."""
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return math.nan
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    rows_in = g_in.detach().to(dtype).movedim(1, -1).reshape(-1, g_in.shape[1])
    rows_out = g_out.detach().to(dtype).movedim(1, -1).reshape(-1, g_out.shape[1])
    if rows_in.shape[0] != rows_out.shape[0]:
        raise EstimatorError(f"az_nas cannot match a cell's input {tuple(g_in.shape)} to its output "
                             f"{tuple(g_out.shape)} position by position")
    sigma = float(torch.linalg.svdvals(rows_in.T @ rows_out / rows_out.shape[0]).max())
    return -sigma - 1.0 / (sigma + SIGMA_EPS) + 2.0


def components(entropies: Sequence[float], cell_terms: Sequence[float]) -> tuple[dict[str, float], dict[str, str]]:
    """(the three measures, why each undefined one is) from the per-map entropies (stem first)
    and the per-cell trainability terms (first cell first); an undefined measure is ``nan``.

    Expressivity is the sum of the entropies, progressivity their smallest step from one map to
    the next, trainability the mean of the terms; any ``nan`` input leaves its measure
    undefined (the authors' -inf)."""
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    bad = [i for i, h in enumerate(entropies) if not math.isfinite(h)]
    if bad:
        where = "the stem" if bad[0] == 0 else f"cell {bad[0]}"
        why = (f"the eigenvalue entropy of the features of {where} is undefined (a constant map, e.g. all zero; "
               "or, in float32, an eigenvalue rounded below -1e-8 of their sum)")
        values["expressivity"] = values["progressivity"] = math.nan
        reasons["expressivity"] = reasons["progressivity"] = why
    else:
        h = np.asarray(entropies, dtype=float)
        values["expressivity"] = float(h.sum())
        if len(h) < 2:
            values["progressivity"] = math.nan
            reasons["progressivity"] = "it needs at least two feature maps"
        else:
            values["progressivity"] = float(np.min(h[1:] - h[:-1]))
    bad = [i for i, t in enumerate(cell_terms) if not math.isfinite(t)]
    if bad or not cell_terms:
        values["trainability"] = math.nan
        reasons["trainability"] = (f"cell {bad[0] + 1} passes its input through unchanged (the authors score -inf)"
                                   if bad else "the network has no cell")
    else:
        values["trainability"] = float(np.mean(cell_terms))
    return values, reasons


# -- measuring a network -------------------------------------------------------------------
def rademacher_probe(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """Independent +-1 entries (each with probability 1/2), drawn on the CPU from ``generator``."""
    return torch.bernoulli(torch.full(tuple(shape), 0.5), generator=generator).mul_(2.0).sub_(1.0)


def _stem_and_cells(net: nn.Module) -> tuple[nn.Module, list[nn.Module]]:
    stem, cells = getattr(net, "stem", None), getattr(net, "cells", None)
    if not isinstance(stem, nn.Module) or not isinstance(cells, (nn.Sequential, nn.ModuleList)) or not len(cells):
        raise EstimatorError(f"az_nas reads the outputs of a network's stem and cells; {type(net).__name__} "
                             "has no 'stem' and 'cells'")
    return stem, list(cells)


def measure_network(net: nn.Module, x: torch.Tensor, generator: torch.Generator,
                    dtype: torch.dtype = torch.float64) -> tuple[list[float], list[float]]:
    """(per-map entropies, stem first; per-cell trainability terms, first cell first) of ``net``
    on ``x``, with probes drawn from ``generator`` (last cell first), spectra computed in
    ``dtype``.  ``nan`` marks an undefined value (see :func:`eigen_entropy`,
    :func:`spectral_trainability`)."""
    stem, cells = _stem_and_cells(net)
    outputs: list[torch.Tensor] = []
    inputs: list[torch.Tensor] = []

    def keep(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        outputs.append(output)

    def cut(module: nn.Module, args: tuple) -> tuple:
        # the cell reads a fresh leaf holding the previous map: its pull-back stops at the cell's input
        previous = outputs[-1]
        if not any(a is previous for a in args):
            raise EstimatorError("az_nas needs every cell to read the output of the cell before it")
        leaf = previous.detach().requires_grad_(True)
        inputs.append(leaf)
        return tuple(leaf if a is previous else a for a in args)

    handles = [stem.register_forward_hook(keep)]
    for cell in cells:
        handles += [cell.register_forward_pre_hook(cut), cell.register_forward_hook(keep)]
    with torch.enable_grad(), _hooks(handles):
        net(x)
    if len(outputs) != len(cells) + 1:
        raise EstimatorError(f"az_nas expected the stem and {len(cells)} cells to run once each; "
                             f"{len(outputs)} outputs were seen")
    entropies = [eigen_entropy(f, dtype) for f in outputs]
    terms = [math.nan] * len(cells)
    for i in reversed(range(len(cells))):
        f_in, f_out = inputs[i], outputs[i + 1]
        g_out = rademacher_probe(f_out.shape, generator).to(device=f_out.device, dtype=f_out.dtype)
        if f_out is f_in:  # the cell returned its input itself
            g_in = g_out
        else:
            g_in = None
            if f_out.requires_grad:
                g_in = torch.autograd.grad(f_out, f_in, g_out, allow_unused=True)[0]
            if g_in is None:  # the output does not depend on the input (a cell with no path)
                g_in = torch.zeros_like(f_in)
        terms[i] = spectral_trainability(g_in, g_out, dtype)
    return entropies, terms


# -- estimators --------------------------------------------------------------------------------
class AZNASMeasurement(TrainingFreeEstimator):
    """One AZ-NAS measurement of an arch (see the module doc): a record whose ``info`` holds the
    three measures (``None`` when undefined, the reason under ``info["undefined"]``) and the
    complexity (millions of MACs), which is also its score.  The per-measure scorers and
    ``az_nas`` read it; it is not registered itself.

    Args:
        dataset: the train images of ``inputs="data"`` (unused with noise inputs).
        inputs: ``gaussian`` (the authors': a batch of N(0, 1) noise) or ``data`` (a seeded
            batch of train images).
        precision: arithmetic of the covariances, eigenvalues and singular values:
            ``float64`` (default) or ``float32`` (the authors'; an eigenvalue that rounds below
            -1e-8 of the sum then leaves a measure undefined, as it makes theirs -inf).
        batch_size: images (default 64, the authors').
        repeats: independent draws (weights, input, probes) averaged per map and per cell.
        seed, device, channels, layers, image_size, num_classes, space, cells_per_stage: as
            :class:`~bpe.estimators.zero_cost.TrainingFreeEstimator`.
    """

    name: ClassVar[str] = "az_nas"
    #: the component a scorer reports (the measurement itself: the always-defined complexity)
    measure_name: ClassVar[str] = "complexity"
    default_batch_size = 64
    cost_passes = 2  # one forward pass, one pull-back through every cell

    def __init__(self, dataset: DatasetSpec | None = None, *, inputs: str = "gaussian", precision: str = "float64",
                 **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        if inputs not in INPUTS:
            raise ConfigError(f"az_nas inputs must be one of {', '.join(INPUTS)}; got {inputs!r}")
        if precision not in PRECISIONS:
            raise ConfigError(f"az_nas precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.precision = precision
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise ConfigError(f"az_nas repeats must be a positive integer, got {self.repeats!r}")
        self.inputs = inputs
        self.needs_data = inputs == "data"  # noise inputs read no data

    def fingerprint(self) -> dict[str, Any]:
        # every AZ-NAS scorer reads the same measurement: one cache entry serves them all
        return {**super().fingerprint(), "estimator": "az_nas_measurement", "inputs": self.inputs,
                "precision": self.precision}

    def describe(self) -> str:
        precision = "" if self.precision == "float64" else f", {self.precision}"
        return f"{self.name}(batch={self._batch_size()}, inputs={self.inputs}{precision}, {self.describe_net()})"

    def initialise(self, net: nn.Module, generator: torch.Generator, batch: torch.Tensor | None = None) -> torch.Tensor:
        """Redraw ``net``'s weights from ``generator`` (:func:`kaiming_fan_in_init`) and return
        the input: ``batch`` when given, else noise drawn next from ``generator``."""
        kaiming_fan_in_init(net, generator)
        if batch is not None:
            return batch
        dev = next(net.parameters()).device
        noise = torch.randn((self._batch_size(), 3, self.image_size, self.image_size), generator=generator)
        return noise.to(dev, memory_format=self._layout(dev))

    def _score_batch(self, net: nn.Module, x: torch.Tensor | None, y: Any, num_classes: int) -> float:
        """This scorer's component on one batch (``None``: noise), draws seeded as in one repeat
        of :meth:`_evaluate` (which measures every component at once); ``nan`` when undefined."""
        if self.measure_name == "complexity":
            return count_macs(net, (1, 3, self.image_size, self.image_size)) / 1e6
        generator = torch.Generator().manual_seed(self.seed)
        x = self.initialise(net, generator, x)
        return components(*measure_network(net, x, generator, PRECISIONS[self.precision]))[0][self.measure_name]

    def _evaluate(self, arch: str) -> EvalRecord:
        dev = resolve_device(self.device)
        start = time.perf_counter()
        batches, data_classes = self._batches(dev) if self.needs_data else ([], 10)
        num_classes = self.num_classes or data_classes
        generator = torch.Generator().manual_seed(self.seed)
        entropies, terms = [], []
        params = macs = 0
        for r in range(self.repeats):
            net = self._network(arch, num_classes, dev)
            if r == 0:
                params = count_params(net)
                macs = count_macs(net, (1, 3, self.image_size, self.image_size))
            x = self.initialise(net, generator, batches[r][0] if batches else None)
            e, t = measure_network(net, x, generator, PRECISIONS[self.precision])
            entropies.append(e)
            terms.append(t)
        entropy = np.mean(entropies, axis=0)  # a nan in any repeat stays nan
        term = np.mean(terms, axis=0)
        values, reasons = components(list(entropy), list(term))
        info: dict[str, Any] = {m: (values[m] if math.isfinite(values[m]) else None) for m in MEASURES}
        info.update(complexity=macs / 1e6, undefined=reasons,
                    entropies=[float(h) if math.isfinite(h) else None for h in entropy],
                    cell_trainability=[float(t) if math.isfinite(t) else None for t in term],
                    params=params, device=str(dev), layout=layout_name(self._layout(dev)))
        cost = Cost(seconds=time.perf_counter() - start, forward_passes=self.cost_passes * self.repeats)
        return EvalRecord(arch=arch, score=macs / 1e6, status="ok", cost=cost, info=info)

    def reusable(self, record: EvalRecord) -> bool:
        return super().reusable(record) and (not record.ok or all(c in record.info for c in COMPONENTS))


class _OneMeasure(AZNASMeasurement):
    """An AZ-NAS measure as a scorer of its own: the shared measurement, scored by ``measure_name``."""

    def finalize(self, record: EvalRecord) -> EvalRecord:
        if not record.ok:
            return record
        value = record.info.get(self.measure_name)
        if value is None:
            reason = record.info.get("undefined", {}).get(self.measure_name, "undefined")
            return dataclasses.replace(record, score=None, status="failed", error=f"{self.name}: {reason}")
        return dataclasses.replace(record, score=float(value))


@register_estimator("az_expressivity")
class AZExpressivity(_OneMeasure):
    """AZ-NAS expressivity: the sum over the stem and cell outputs of the entropy of their
    normalised channel-covariance spectrum.  Higher is better."""

    measure_name = "expressivity"


@register_estimator("az_progressivity")
class AZProgressivity(_OneMeasure):
    """AZ-NAS progressivity: the smallest gain in expressivity entropy from one cell's output to
    the next.  Higher is better."""

    measure_name = "progressivity"


@register_estimator("az_trainability")
class AZTrainability(_OneMeasure):
    """AZ-NAS trainability: the mean over cells of ``-sigma - 1/sigma + 2``, sigma the spectral
    norm of the cell's channel Jacobian estimated with random +-1 probes (0 is best).  Higher
    is better."""

    measure_name = "trainability"


@register_estimator("az_nas")
class AZNAS(Estimator):
    """AZ-NAS: the sum of the log-ranks of an arch's measures among the archs scored together
    (see the module doc).  Ranks exist only within a population, so one arch alone is refused.

    Args:
        dataset, inputs, batch_size, repeats, seed, device, channels, layers, image_size,
            num_classes, space, cells_per_stage: those of the measurement
            (:class:`AZNASMeasurement`).
        components: the components assembled (default all four; a subset for ablations).
    """

    cheap = True  # nothing of its own to cache: its measurement is cached
    population: ClassVar[bool] = True
    training_free: ClassVar[bool] = True

    def __init__(self, dataset: DatasetSpec | None = None, *, components: Sequence[str] = COMPONENTS,
                 **kwargs: Any) -> None:
        chosen = tuple(components)
        if not chosen or len(set(chosen)) < len(chosen) or any(c not in COMPONENTS for c in chosen):
            raise ConfigError(f"az_nas components must be distinct names among {', '.join(COMPONENTS)}; "
                              f"got {list(chosen)}")
        self.components = chosen
        self.measurement = AZNASMeasurement(dataset, **kwargs)

    # built from a context as its measurement is (the scorers' own constructors, same keywords)
    from_context = classmethod(TrainingFreeEstimator.from_context.__func__)  # type: ignore[attr-defined]
    tiny = classmethod(TrainingFreeEstimator.tiny.__func__)  # type: ignore[attr-defined]

    @property
    def reads_data(self) -> bool:
        return self.measurement.reads_data

    @property
    def channels(self) -> int:
        """The scored network's channels (its measurement's): what an export pins."""
        return self.measurement.channels

    @property
    def layers(self) -> int:
        """The scored network's layers (its measurement's)."""
        return self.measurement.layers

    def fingerprint(self) -> dict[str, Any]:
        return {"estimator": self.name, "components": list(self.components),
                "measurement": self.measurement.fingerprint()}

    def describe(self) -> str:
        parts = self.measurement.describe()[len(self.measurement.name) + 1:-1]
        chosen = "" if self.components == COMPONENTS else f"{'+'.join(self.components)}, "
        return f"{self.name}({chosen}{parts})"

    def score_population(self, archs: Sequence[str], runner: Any) -> list[EvalRecord]:
        """Each of ``archs`` assembled among them; the measurements go through ``runner`` (and
        its cache).  An arch whose measurement failed fails."""
        records = runner.measure(self.measurement, archs, desc=self.name)
        ok = [r.ok for r in records]
        columns = [[r.info.get(c) if r.ok else None for r in records] for c in self.components]
        scores = log_rank_sum(columns, ok)
        out = []
        for record, score in zip(records, scores):
            if not record.ok:
                out.append(record)
                continue
            info = {c: record.info.get(c) for c in COMPONENTS}
            info["undefined"] = dict(record.info.get("undefined", {}))
            out.append(EvalRecord(arch=record.arch, score=score, status="ok", cost=record.cost, info=info))
        return out

    def _evaluate(self, arch: str) -> EvalRecord:
        raise EstimatorError(f"{self.describe()} ranks archs scored together; score a sample of them "
                             "(bpe score/evaluate, or a runner), not one arch")
