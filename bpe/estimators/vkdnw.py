"""VKDNW (Týbl & Neumann, CVPR 2025): how evenly the Fisher information of an untrained network
is spread over its weights, read off the spectrum of the Fisher information matrix (FIM).

The measurement, as the authors' NAS-Bench-201 code does it (ondratybl/VKDNW,
``NB201/ZeroShotProxy/compute_vkdnw_score.py``; the run that gave the paper's VKDNW_single and
VKDNW_agg numbers is the state of 12 Nov 2024, commit 779a3a8, with ``tss_general_.py``'s
defaults), and what we do:

* Initialisation: every Conv2d and Linear weight ~ N(0, 2 / fan_in) (Kaiming normal, fan-in,
  ReLU gain), their biases 0, BatchNorm/GroupNorm weight 1 and bias 0.  Our weights are drawn on
  the CPU from one generator seeded with ``seed``, in module order (device independent).
* BatchNorm in eval mode with the fresh running statistics (mean 0, variance 1): the authors
  switch the network to ``eval()`` before the Jacobian, so every image is scored alone.
* Input: 64 images (``batch_size``).  The authors feed N(0, 1) noise to VKDNW (it is not among
  their "real input" scorers unless ``--real_input``); ``inputs="gaussian"`` (default, the name
  ``az_nas`` uses) does the same with noise drawn from a generator of its own (the same for
  every arch of a run), ``"data"`` uses the seeded train batch instead.  No labels are used in either case: only the dataset's
  number of classes K.
* Parameters: the FIM is over a sample of scalar weights, not all of them: the first entry of
  each of the first 128 parameter tensors in ``named_parameters()`` order (``tensors=128``,
  ``per_tensor=1``; their later ``p`` option samples ``per_tensor`` entries at evenly spaced flat
  positions, ``linspace(0, numel - 1, per_tensor)`` truncated; repeated positions are kept once
  here).  At C=16, N=5 the first 128 tensors are the stem and the first cells.
* Jacobian: per image, the derivative of the K logits with respect to those P scalars
  (``J``, K x P).  They vectorise reverse mode over images and classes with ``torch.func``
  (:func:`per_sample_jacobian_func` does the same); we use that eval-mode images do not
  interact: per class one backward pass of the summed logit, stopped at the outputs of the
  layers that own the sampled weights, and each weight's per-image derivative from the layer's
  input (:func:`per_sample_jacobian`; equal up to rounding, about 2.5x faster on a CPU).
* Output covariance: p = (1 - alpha) softmax(logits) + alpha / K with alpha = 0.05 (their
  smoothing, so that no probability is 0), and the exact Cholesky-type factor L of
  Sigma = diag(p) - p p^T (Tanabe & Sagae 1992, Theorem 1): lower triangular, L L^T = Sigma.
  Their alpha is a float16 tensor, so 1 - alpha rounds to 0.950195 and their probabilities sum
  to 1.00018; we use 0.05 exactly (H moves by about 1e-4 relative).
* FIM: the mean over images of ``G^T G``.  The authors multiply ``G = L J``, which gives
  ``J^T L^T L J``; the Fisher information of the categorical model is ``J^T Sigma J =
  J^T L L^T J``, i.e. ``G = L^T J``.  ``fisher="authors"`` (default) reproduces their matrix,
  ``fisher="exact"`` computes the textbook one.  We form it in float64 from the float32
  Jacobian; they form it, and take its SVD, in float32.  The spectrum spans 20-30 orders of
  magnitude (BatchNorm at its initial statistics does not rescale the activations, and the
  logits reach 1e10), so the float32 deciles below about 1e-7 of the largest eigenvalue are
  rounding noise; where all nine deciles are (a cell with no path from its input to its
  output: only the last cells reach the logits, and at most K - 1 eigenvalues are non-zero),
  their H is that of the noise, about log 9, the largest possible; ours is 0, the exact value.
* Spectrum: the eigenvalues' absolute values (= the singular values their ``torch.svd`` gives
  for a symmetric matrix), float64.
* Entropy: the 9 deciles (levels 0.1, ..., 0.9, linear interpolation) q of the spectrum,
  normalised ``t = q / (sum q + 1e-10)``, and ``H = -sum t log(t + 1e-10)`` (their constants),
  so 0 <= H <= log 9.  This is ``vkdnw_entropy``.
* VKDNW_single ranks archs by the number of parameter tensors (their "number of trainable
  layers", ``len(list(model.named_parameters()))``) first and H second (their tables use the
  dense rank of the pair).  As a single number per arch: ``vkdnw = dim + H / (2 log 9)``, which
  orders archs exactly as that pair (the fraction is below 1/2).  This is ``vkdnw``.

Both scorers share one cached measurement (``info["entropy"]``, ``info["dim"]``; the record's
score is the entropy), and :meth:`VKDNW.finalize` picks the score.  Where the authors turn a
failed eigen-decomposition into a zero spectrum (entropy 0), a non-finite FIM is a recorded
failure here.  Higher is better for both.

``vkdnw_agg`` (the paper's VKDNW_agg) is not a per-arch score: it ranks the archs scored
together, with AZ-NAS's rule (sum of log-ranks) over five measures, as the authors'
``paper_preparation.ipynb`` assembles ``vkdnw_comb_rank``: VKDNW_single (their dense rank of the
pair (dim, H); ``vkdnw`` gives the same order), jacov, AZ-NAS expressivity and trainability, and
FLOPs.  Here each is a registered scorer (``vkdnw``, ``jacob_cov``, ``az_expressivity``,
``az_trainability``, ``flops``), composed like a vote, so each is measured (and cached) once.
Their jacov NaN becomes the column minimum: here a member's failure ranks last in its column,
tied.  Differences in the members: our ``jacob_cov`` keeps PyTorch's default initialisation
(their jacov re-draws Kaiming-normal fan-in weights first; both use a train batch of 64 and
train-mode BatchNorm); ``flops`` counts convolution and linear multiply-accumulates on the
built network (NATS-Bench's FLOPs add the classifier's bias additions, the same for every arch).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from bpe.data import DatasetSpec
from bpe.errors import ConfigError
from bpe.estimators import estimator_from_spec, get_estimator_class, register_estimator
from bpe.estimators.vote import Vote, combined_records, log_rank_sum
from bpe.estimators.zero_cost import ScoreUndefined, TrainingFreeEstimator, kaiming_fan_in_init
from bpe.records import EvalRecord
from bpe.spaces import get_space

__all__ = [
    "DECILES",
    "AGG_MEMBERS",
    "VKDNW",
    "VKDNWAgg",
    "VKDNWEntropy",
    "categorical_covariance_factor",
    "fisher_matrix",
    "jacobian_and_logits",
    "per_sample_jacobian",
    "per_sample_jacobian_func",
    "selected_entries",
    "smoothed_probabilities",
    "spectrum_entropy",
    "vkdnw_single",
]

#: Quantile levels of the spectrum that enter the entropy (the authors' ``arange(0.1, 1, 0.1)``).
DECILES: tuple[float, ...] = tuple(k / 10 for k in range(1, 10))
#: The authors' additive constants in the normalisation and in the logarithm.
_EPS = 1e-10


# -- pure functions (tested against hand-computed cases) ---------------------------------
def smoothed_probabilities(logits: torch.Tensor, alpha: float = 0.05) -> torch.Tensor:
    """``(1 - alpha) softmax(logits) + alpha / K`` per row of ``logits`` (N, K), in float64."""
    k = logits.shape[-1]
    return (1.0 - alpha) * torch.softmax(logits.double(), dim=-1) + alpha / k


def categorical_covariance_factor(probs: torch.Tensor) -> torch.Tensor:
    """Per row ``p`` of ``probs`` (N, K; rows summing to 1), the lower-triangular L with
    ``L L^T = diag(p) - p p^T`` in closed form (Tanabe & Sagae 1992): with the tail sums
    ``s_j = p_{j+1} + ... + p_K`` (``s_0 = 1``), ``L_jj = sqrt(p_j s_j / s_{j-1})`` and, below
    the diagonal, ``L_ij = -p_i L_jj / s_j`` (a column with ``s_j = 0``, the last one, is 0)."""
    p = probs.double()
    tail = p.flip(-1).cumsum(-1).flip(-1)  # s_{j-1} = p_j + ... + p_K
    after = torch.cat([tail[..., 1:], torch.zeros_like(tail[..., :1])], dim=-1)  # s_j
    diag = torch.sqrt(torch.clamp(torch.where(tail > 0, p * after / torch.where(tail > 0, tail, 1.0), 0.0), min=0.0))
    column = torch.where(after > 0, diag / torch.where(after > 0, after, 1.0), 0.0)  # L_jj / s_j
    below = -p.unsqueeze(-1) * column.unsqueeze(-2)  # [i, j] = -p_i L_jj / s_j
    k = p.shape[-1]
    strictly_lower = torch.tril(torch.ones(k, k, dtype=torch.bool, device=p.device), diagonal=-1)
    return torch.where(strictly_lower, below, torch.zeros_like(below)) + torch.diag_embed(diag)


def fisher_matrix(jacobian: torch.Tensor, probs: torch.Tensor, form: str = "authors") -> torch.Tensor:
    """The P x P matrix ``mean_n G_n^T G_n`` (float64) from per-image logit Jacobians
    ``jacobian`` (N, K, P) and output probabilities ``probs`` (N, K), with L the factor of
    :func:`categorical_covariance_factor`: ``G = L^T J`` for ``form="exact"`` (the Fisher
    information ``J^T (diag p - p p^T) J``), ``G = L J`` for ``form="authors"`` (their code)."""
    if form not in ("authors", "exact"):
        raise ConfigError(f"fisher must be 'authors' or 'exact', got {form!r}")
    factor = categorical_covariance_factor(probs)
    if form == "exact":
        factor = factor.transpose(-1, -2)
    g = factor @ jacobian.double()
    return (g.transpose(-1, -2) @ g).mean(dim=0)


def spectrum_entropy(eigenvalues: torch.Tensor | np.ndarray | Sequence[float],
                     levels: Sequence[float] = DECILES) -> float:
    """Entropy of the normalised quantiles of a spectrum: ``q`` = the ``levels`` quantiles of
    ``|eigenvalues|`` (linear interpolation), ``t = q / (sum q + 1e-10)``,
    ``-sum t log(t + 1e-10)``; ``nan`` for an empty or non-finite spectrum."""
    values = np.abs(np.asarray(torch.as_tensor(eigenvalues).double().cpu(), dtype=np.float64)).ravel()
    if values.size == 0 or not np.all(np.isfinite(values)):
        return math.nan
    q = np.quantile(values, np.asarray(levels, dtype=np.float64))
    t = q / (q.sum() + _EPS)
    return float(-np.sum(t * np.log(t + _EPS)))


def vkdnw_single(dim: int, entropy: float, levels: int = len(DECILES)) -> float:
    """VKDNW_single as one number: ``dim + entropy / (2 log levels)``; since ``0 <= entropy <=
    log levels``, it orders archs by ``dim`` first and ``entropy`` second."""
    return float(dim) + float(entropy) / (2.0 * math.log(levels))


# -- the measurement ---------------------------------------------------------------------
def selected_entries(net: nn.Module, tensors: int | None = 128, per_tensor: int = 1) -> list[tuple[str, torch.Tensor]]:
    """The scalar weights the FIM is over: for each of the first ``tensors`` (all when ``None``)
    parameter tensors of ``net`` in ``named_parameters()`` order, its name and the flat
    positions ``linspace(0, numel - 1, per_tensor)`` (truncated, each position once)."""
    named = list(net.named_parameters())
    if tensors is not None:
        named = named[:tensors]
    out = []
    for name, param in named:
        idx = torch.linspace(0, param.numel() - 1, steps=per_tensor).long().unique()
        out.append((name, idx.to(param.device)))
    return out


def per_sample_jacobian_func(net: nn.Module, x: torch.Tensor,
                              selection: Sequence[tuple[str, torch.Tensor]]) -> torch.Tensor:
    """:func:`per_sample_jacobian` by ``torch.func`` (reverse mode vectorised over images and
    classes, as the authors compute it): general, but about twice as slow on a CPU."""
    base = {name: p.detach() for name, p in net.named_parameters()}
    buffers = {name: b.detach() for name, b in net.named_buffers()}
    start = {name: base[name].reshape(-1)[idx] for name, idx in selection}

    def logits(values: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        weights = dict(base)
        for name, idx in selection:  # the selected scalars take ``values``, the rest stay fixed
            weights[name] = base[name].reshape(-1).index_put((idx,), values[name]).view_as(base[name])
        return functional_call(net, (weights, buffers), (image.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(logits), in_dims=(None, 0), chunk_size=8)(start, x)  # name -> (N, K, entries)
    n = x.shape[0]
    return torch.cat([jac[name].reshape(n, jac[name].shape[1], -1) for name, _ in selection], dim=2).detach()


Reader = Callable[[torch.Tensor], torch.Tensor]


def _entry_reader(m: nn.Module, attr: str, idx: torch.Tensor, inp: torch.Tensor) -> Reader:
    """For module ``m`` called on ``inp`` (N, ...): a function taking the per-image gradient at
    its output (N, ...) to the per-image derivatives (N, len(idx)) with respect to entries
    ``idx`` of its parameter ``attr``.  Closed forms for Conv2d (zero padding), eval-mode
    BatchNorm2d and Linear read the input now (so a later in-place change of it does no harm);
    any other module is differentiated image by image with ``torch.func``."""
    n = inp.shape[0]
    if isinstance(m, nn.Conv2d) and attr == "bias":
        return lambda g: g[:, idx].sum(dim=(2, 3))
    if isinstance(m, nn.Conv2d) and m.padding_mode == "zeros" and not isinstance(m.padding, str):
        (ph, pw), (sh, sw), (dh, dw) = m.padding, m.stride, m.dilation
        xp = nn.functional.pad(inp.detach(), (pw, pw, ph, ph))
        ho = (xp.shape[2] - dh * (m.kernel_size[0] - 1) - 1) // sh + 1
        wo = (xp.shape[3] - dw * (m.kernel_size[1] - 1) - 1) // sw + 1
        o, i, u, v = np.unravel_index(idx.cpu().numpy(), tuple(m.weight.shape))
        ic = (o // (m.out_channels // m.groups)) * (m.in_channels // m.groups) + i  # the input channel read
        # the input pixels entry (o, i, u, v) multiplies, at every output position: (N, len(idx), ho, wo)
        patches = torch.stack([xp[:, c, a * dh: a * dh + (ho - 1) * sh + 1: sh, b * dw: b * dw + (wo - 1) * sw + 1: sw]
                               for c, a, b in zip(ic.tolist(), u.tolist(), v.tolist())], dim=1)
        rows = torch.as_tensor(o, device=inp.device)
        return lambda g: (g[:, rows] * patches).sum(dim=(2, 3))
    if isinstance(m, nn.BatchNorm2d) and not m.training and m.running_mean is not None:
        if attr == "bias":
            return lambda g: g[:, idx].sum(dim=(2, 3))
        normalised = ((inp.detach()[:, idx] - m.running_mean[idx, None, None])
                      / torch.sqrt(m.running_var[idx, None, None] + m.eps))
        return lambda g: (g[:, idx] * normalised).sum(dim=(2, 3))
    if isinstance(m, nn.Linear):
        if attr == "bias":
            return lambda g: g.reshape(n, -1, g.shape[-1])[:, :, idx].sum(1)
        o, i = np.unravel_index(idx.cpu().numpy(), tuple(m.weight.shape))
        rows, picked = torch.as_tensor(o, device=inp.device), inp.detach().reshape(n, -1, inp.shape[-1])[:, :, i]
        return lambda g: (g.reshape(n, -1, g.shape[-1])[:, :, rows] * picked).sum(1)
    own = {name: p.detach() for name, p in m.named_parameters(recurse=False)}
    saved = inp.detach().clone()

    def pulled(value: torch.Tensor, image: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
        def forward(v: torch.Tensor) -> torch.Tensor:
            weights = dict(own)
            weights[attr] = own[attr].reshape(-1).index_put((idx,), v).view_as(own[attr])
            return functional_call(m, weights, (image.unsqueeze(0),)).squeeze(0)
        return torch.func.vjp(forward, value)[1](cotangent)[0]

    return lambda g: vmap(pulled, in_dims=(None, 0, 0))(own[attr].reshape(-1)[idx], saved, g)


def per_sample_jacobian(net: nn.Module, x: torch.Tensor, selection: Sequence[tuple[str, torch.Tensor]]) -> torch.Tensor:
    """``J[n, k, j]``: derivative of logit k of image n with respect to the j-th selected scalar
    weight, as (N, K, P) in the order of ``selection`` (from :func:`selected_entries`).
    See :func:`jacobian_and_logits`."""
    return jacobian_and_logits(net, x, selection)[0]


def jacobian_and_logits(net: nn.Module, x: torch.Tensor,
                        selection: Sequence[tuple[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-image Jacobian of :func:`per_sample_jacobian` and the logits (N, K) of the same
    forward pass.

    The net must be in eval mode, so that images do not interact: then one backward pass of
    ``sum_n logit_k(n)`` gives every image's own gradient at each layer's output, and the
    derivative with respect to a single weight entry follows from the layer's input (one
    forward, then per class one backward that computes no weight gradients: about 2.5x faster
    than :func:`per_sample_jacobian_func` on a CPU, the same up to rounding)."""
    if any(m.training for m in net.modules()):
        raise ValueError("per_sample_jacobian needs the net in eval mode (images must not interact)")
    owner: dict[str, tuple[nn.Module, str]] = {}
    for mod_name, m in net.named_modules():
        for attr, _ in m.named_parameters(recurse=False):
            owner[f"{mod_name}.{attr}" if mod_name else attr] = (m, attr)
    wanted: dict[nn.Module, list[tuple[int, str, torch.Tensor]]] = {}
    for j, (name, idx) in enumerate(selection):
        m, attr = owner[name]
        wanted.setdefault(m, []).append((j, attr, idx))
    # per call of a module: its output (differentiated at) and one reader per selected parameter
    calls: list[tuple[torch.Tensor, list[tuple[int, Reader]]]] = []

    def hook(m: nn.Module, inputs: tuple, output: Any) -> torch.Tensor:
        if len(inputs) != 1 or not isinstance(inputs[0], torch.Tensor) or not isinstance(output, torch.Tensor):
            raise ValueError(f"cannot take per-image gradients through {type(m).__name__} (one tensor in and out)")
        calls.append((output, [(j, _entry_reader(m, attr, idx, inputs[0])) for j, attr, idx in wanted[m]]))
        return output.clone()  # an in-place op downstream must not change the tensor we differentiate at

    handles = [m.register_forward_hook(hook) for m in wanted]
    try:
        logits = net(x)
    finally:
        for h in handles:
            h.remove()
    n, k = logits.shape[0], logits.shape[1]
    offsets = np.cumsum([0] + [int(idx.numel()) for _, idx in selection])
    jac = torch.zeros(n, k, int(offsets[-1]), dtype=logits.dtype, device=logits.device)
    targets = [out for out, _ in calls]
    for cls in range(k):
        grads = torch.autograd.grad(logits[:, cls].sum(), targets, retain_graph=cls < k - 1, allow_unused=True)
        for (_, readers), g in zip(calls, grads):
            if g is None:  # this output does not reach the logits
                continue
            for j, read in readers:  # a module called twice adds both calls
                jac[:, cls, offsets[j]:offsets[j + 1]] += read(g)
    return jac.detach(), logits.detach()


def _stream_seed(seed: int, stream: int, index: int) -> int:
    """A seed for stream ``stream`` (1: the input noise) of repeat ``index``, independent of the
    weight stream seeded with ``seed`` itself."""
    return int(np.random.SeedSequence([int(seed), stream, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


@register_estimator("vkdnw")
class VKDNW(TrainingFreeEstimator):
    """VKDNW_single: parameter-tensor count first, then the entropy of the normalised FIM
    deciles, as ``dim + H / (2 log 9)`` (see the module doc).  One forward and a per-image
    Jacobian (one backward per class).  Higher is better.

    Args (besides :class:`TrainingFreeEstimator`'s):
        inputs: ``gaussian`` (the authors' NB201 protocol: N(0, 1) images) or ``data`` (the train batch).
        tensors: how many parameter tensors (in ``named_parameters()`` order) contribute weights.
        per_tensor: weights sampled from each of them.
        alpha: label smoothing of the output probabilities.
        fisher: ``authors`` (their ``J^T L^T L J``) or ``exact`` (``J^T Sigma J``).
    """

    default_batch_size = 64
    cost_passes = 11  # one forward, then one backward per class of a 10-class head

    def __init__(self, dataset: DatasetSpec | None = None, *, inputs: str = "gaussian", tensors: int | None = 128,
                 per_tensor: int = 1, alpha: float = 0.05, fisher: str = "authors", **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        if inputs not in ("gaussian", "data"):
            raise ConfigError(f"vkdnw inputs must be 'gaussian' or 'data', got {inputs!r}")
        if tensors is not None and (not isinstance(tensors, int) or tensors < 1):
            raise ConfigError(f"vkdnw tensors must be a positive integer or None (all), got {tensors!r}")
        if not isinstance(per_tensor, int) or per_tensor < 1:
            raise ConfigError(f"vkdnw per_tensor must be a positive integer, got {per_tensor!r}")
        if not 0.0 <= alpha < 1.0:
            raise ConfigError(f"vkdnw alpha must be in [0, 1), got {alpha!r}")
        if fisher not in ("authors", "exact"):
            raise ConfigError(f"vkdnw fisher must be 'authors' or 'exact', got {fisher!r}")
        self.inputs = inputs
        self.tensors = tensors
        self.per_tensor = per_tensor
        self.alpha = float(alpha)
        self.fisher = fisher

    def fingerprint(self) -> dict[str, Any]:
        # ``vkdnw`` and ``vkdnw_entropy`` read the same measurement: one cache entry serves both
        return {**super().fingerprint(), "estimator": "vkdnw", "inputs": self.inputs, "tensors": self.tensors,
                "per_tensor": self.per_tensor, "alpha": self.alpha, "fisher": self.fisher,
                "init": "kaiming_normal_fan_in"}

    def describe(self) -> str:
        extra = "" if self.fisher == "authors" else ", exact Fisher"
        return (f"{self.name}(batch={self._batch_size()}, inputs={self.inputs}, tensors={self.tensors}, "
                f"per_tensor={self.per_tensor}{extra}, {self.describe_net()})")

    # inputs: the train batch (for its shape and the number of classes), or noise of its shape
    def _batches(self, dev: torch.device, size: int | None = None) -> tuple[list[tuple[torch.Tensor, torch.Tensor]],
                                                                             int]:
        batches, classes = super()._batches(dev, size)
        if self.inputs == "data":
            return batches, classes
        noisy = []
        for r, (x, y) in enumerate(batches):
            gen = torch.Generator().manual_seed(_stream_seed(self.seed, 1, r))
            noise = torch.randn(tuple(x.shape), generator=gen, dtype=torch.float32)
            noisy.append((noise.to(dev, memory_format=self._layout(dev)), y))
        return noisy, classes

    def _score_batch(self, net: nn.Module, x: torch.Tensor, y: Any, num_classes: int) -> float:
        kaiming_fan_in_init(net, torch.Generator().manual_seed(self.seed))
        net.eval()
        jac, logits = jacobian_and_logits(net, x, selected_entries(net, self.tensors, self.per_tensor))
        fim = fisher_matrix(jac, smoothed_probabilities(logits, self.alpha), self.fisher)
        if not bool(torch.isfinite(fim).all()):
            raise ScoreUndefined("the Fisher information matrix has non-finite entries (the outputs overflow)")
        return spectrum_entropy(torch.linalg.eigvalsh(fim))

    def parameter_tensors(self, arch: str) -> int:
        """The number of parameter tensors of the scored network (built on the meta device)."""
        space = get_space(self.space)
        with torch.device("meta"):
            net = space.build(arch, num_classes=self.num_classes or 10,
                              **space.net_size(channels=self.channels, layers=self.layers))
        return sum(1 for _ in net.parameters())

    def _evaluate(self, arch: str) -> EvalRecord:
        record = super()._evaluate(arch)
        if record.ok:
            record.info["entropy"] = record.score
            record.info["dim"] = self.parameter_tensors(arch)
        return record

    def reusable(self, record: EvalRecord) -> bool:
        return super().reusable(record) and (not record.ok or ("entropy" in record.info and "dim" in record.info))

    def finalize(self, record: EvalRecord) -> EvalRecord:
        if not record.ok:
            return record
        return dataclasses.replace(record, score=vkdnw_single(record.info["dim"], record.info["entropy"]))


@register_estimator("vkdnw_entropy")
class VKDNWEntropy(VKDNW):
    """VKDNW's entropy alone (no tensor count): ``H`` of the normalised FIM deciles, in
    [0, log 9]; shares ``vkdnw``'s measurement.  Higher is better."""

    def finalize(self, record: EvalRecord) -> EvalRecord:
        if not record.ok:
            return record
        return dataclasses.replace(record, score=float(record.info["entropy"]))


#: The measures VKDNW_agg ranks together (the authors' ``vkdnw_comb_rank``), by registered name.
AGG_MEMBERS: tuple[str, ...] = ("vkdnw", "jacob_cov", "az_expressivity", "az_trainability", "flops")


@register_estimator("vkdnw_agg")
class VKDNWAgg(Vote):
    """VKDNW_agg: per arch, the sum over ``vkdnw``, ``jacob_cov``, ``az_expressivity``,
    ``az_trainability`` and ``flops`` of ``log(rank / n)`` among the n archs scored together
    (AZ-NAS's non-linear rank aggregation; ties share their mean rank).  A member that failed
    on an arch ranks it last in that member's column, tied with the member's other failures (the
    authors set a NaN jacov to the column minimum); an arch no member scored fails.  Each member
    is a registered scorer, so each measurement is cached once and shared with the scorer's own
    runs.  Ranks exist only within a population: one arch alone is refused.  Higher is better.
    """

    training_free: ClassVar[bool] = True

    def _shared(self, size: str) -> int | None:
        sizes = {getattr(m, size, None) for m in self.members}
        return sizes.pop() if len(sizes) == 1 else None

    @property
    def channels(self) -> int | None:
        """The scored network's channels, when every member scores the same network (what an
        export pins; its members are built at one size)."""
        return self._shared("channels")

    @property
    def layers(self) -> int | None:
        """The scored network's layers, when every member scores the same network."""
        return self._shared("layers")

    @classmethod
    def from_context(cls, context: Any) -> VKDNWAgg:
        return cls([estimator_from_spec(name, dataset=context.dataset, truth=context.truth, metric=context.metric,
                                        space=context.space, device=context.device, options=dict(context.options))
                    for name in AGG_MEMBERS])

    @classmethod
    def tiny(cls, context: Any) -> VKDNWAgg:
        return cls([get_estimator_class(name).tiny(context) for name in AGG_MEMBERS])

    def describe(self) -> str:
        return f"vkdnw_agg({', '.join(m.describe() for m in self.members)})"

    def score_population(self, archs: Sequence[str], runner: Any) -> list[EvalRecord]:
        per_member = [runner.run(m, archs, desc=m.name) for m in self.members]
        scored = [any(records[i].ok for records in per_member) for i in range(len(archs))]
        columns = [[r.score if r.ok else None for r in records] for records in per_member]
        sums = log_rank_sum(columns, scored)
        keys = [m.name for m in self.members]
        keys = keys if len(set(keys)) == len(keys) else [m.describe() for m in self.members]
        # members reading one measurement (AZ-NAS's expressivity and trainability) cost it once
        groups = [repr(m.fingerprint()) for m in self.members]
        return combined_records(archs, per_member, sums, keys, f"the {self.name}", groups=groups)
