"""A MIP run's output: the ``bpe.json`` file (the found setting plus provenance and the whole
trajectory) and its plots (importance per round; rho against cost with the front and the
chosen setting).  ``bpe.json`` loads anywhere an estimator is taken (its ``config``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bpe.mip.evaluators import SettingResult
from bpe.mip.search import MIPResult, frontier
from bpe.outputs import OutputSet, plan_outputs, run_provenance
from bpe.plotting import legend_outside, new_figure, save_figure, set_title
from bpe.truth.records_folder import setting_config

__all__ = ["mip_document", "export_spec", "member_entry", "write_mip", "importance_plot", "frontier_plot", "tabular_config"]


def tabular_config(setting: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded DARTS-space setting as :class:`~bpe.config.BPEConfig` fields (float_bits ->
    precision, cutout_length -> cutout, the rest as is)."""
    return setting_config(setting).to_dict()


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _result_entry(index: int, r: SettingResult) -> dict[str, Any]:
    return {"id": index, **r.to_dict()}


def member_entry(member: Mapping[str, Any]) -> dict[str, Any]:
    """How a ``bpe.json`` names a blend's member recorded as ``{"family", "setting", "config"}``:
    ``{"family": "scorer", "name": ...}`` or ``{"family": "proxy", "config": ...}``."""
    if member["family"] == "scorer":  # its export (the network it scored pinned) where the run recorded it
        return dict(member.get("spec") or {"family": "scorer", "name": member["setting"]["scorer"]})
    return {"family": "proxy", "config": member["config"]}


def export_spec(result: SettingResult) -> dict[str, Any]:
    """The ``estimator`` entry of ``bpe.json`` for a chosen result: ``{"family": "proxy",
    "config": ...}`` (a training setting), ``{"family": "scorer", "name": ...}`` or ``{"family":
    "blend", "members": [...], "weights": [...]}`` (a blend fitted by MIP; see
    :func:`bpe.estimators.vote.member_spec`), or the export a result carries as ``extra["spec"]``:
    a setting's hybrid (a blend of its proxy and a scorer, :meth:`bpe.estimators.vote.RankBlend.to_spec`)
    or a learned blend (:meth:`bpe.estimators.learned.LearnedBlend.to_spec`)."""
    if "spec" in result.extra:
        return dict(result.extra["spec"])
    if "members" in result.extra:
        return {"family": "blend", "members": [member_entry(m) for m in result.extra["members"]],
                "weights": list(result.extra["weights"])}
    if result.family == "scorer":
        return {"family": "scorer", "name": result.setting["scorer"]}
    return {"family": "proxy", "config": result.config if result.config is not None else tabular_config(result.setting)}


def _confirmation_entry(confirmation: Mapping[str, Any], chosen: SettingResult) -> dict[str, Any]:
    finals = list(confirmation["finalists"])
    return {
        "rule": confirmation["rule"],
        "finalists": [{"family": f.family, "name": f.name, "cost_per_arch": f.cost_per_arch,
                       "search_spearman": f.spearman, "confirmation_spearman": c.spearman,
                       "confirmation_spearman_ci95": c.spearman_ci95, "confirmation_n_archs": c.n_ok}
                      for f, c in zip(finals, confirmation["confirmed"])],
        "comparisons": confirmation["comparisons"],
        "underpowered": confirmation.get("underpowered", False),
        "chosen": finals.index(chosen),
    }


def mip_document(result: MIPResult, *, provenance: Mapping[str, Any],
                 confirmation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``bpe.json`` content: ``estimator`` (what was found: a setting, a scorer or a blend),
    ``config`` (the setting's, when it is one), ``measured`` (its rho on the search archs and, with
    ``confirmation``, on the confirmation archs: the forecast), ``rounds``, ``trajectory``, ..."""
    chosen = result.chosen
    if chosen is None:
        estimator, config, measured = None, None, None
    else:
        estimator = export_spec(chosen)
        config = estimator.get("config")
        measured = {
            "family": chosen.family,
            "spearman": chosen.spearman, "spearman_ci95": chosen.spearman_ci95,
            "kendall": chosen.kendall, "kendall_ci95": chosen.kendall_ci95,
            "cost_per_arch": chosen.cost_per_arch, "n_sampled": chosen.n_archs, "n_archs": chosen.n_ok,
            "setting": chosen.setting, "name": chosen.name,
            "id": result.trajectory.index(chosen), **chosen.extra,
        }
        if confirmation is not None:
            confirmed = confirmation["confirmed"][list(confirmation["finalists"]).index(chosen)]
            measured.update(confirmation_spearman=confirmed.spearman, confirmation_spearman_ci95=confirmed.spearman_ci95,
                            confirmation_kendall=confirmed.kendall, confirmation_n_archs=confirmed.n_ok,
                            confirmation_cost_per_arch=confirmed.cost_per_arch)
    front = frontier([r for r in result.trajectory if result.complete(r)])  # halving: only rhos on every arch
    doc = {
        "kind": "bpe-mip",
        "estimator": estimator,
        "config": config,
        "measured": {**(measured or {}), **provenance, **run_provenance()} if measured else None,
        "objective": {"rule": "highest measured Spearman rho with cost per arch <= max_cost",
                      "max_cost": result.settings.max_cost},
        "mip": {
            "per_round": result.settings.per_round, "rounds_limit": result.settings.rounds,
            "importance": result.settings.importance, "forest_seeds": result.settings.forest_seeds,
            "prune_rule": result.settings.prune_rule, "skip_over_cap": result.settings.skip_over_cap,
            "budget": result.settings.budget, "spent": result.spent, "seed": result.settings.seed,
            "stop_reason": result.stop_reason, "n_settings_measured": result.n_measured,
            "n_results": len(result.trajectory),
            "halving": result.halving,
        },
        "knobs": result.knobs,
        "fixed": result.fixed,
        "rounds": [r.to_dict() for r in result.rounds],
        "cost_model": result.cost_model,
        "frontier": [result.trajectory.index(r) for r in front],
        "baseline": None if result.baseline is None else {**result.baseline.to_dict(), **result.worth_its_cost()},
        "trajectory": [_result_entry(i, r) for i, r in enumerate(result.trajectory)],
        "confirmation": None if confirmation is None or chosen is None else _confirmation_entry(confirmation, chosen),
    }
    return _clean(doc)


def importance_plot(doc: Mapping[str, Any], path: str | Path) -> Path:
    """Bars of each knob's importance (mean +- std over forest seeds), one panel per round."""
    rounds = [r for r in doc["rounds"] if r.get("importances")]
    n = max(1, len(rounds))
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(figsize=(4.2 * cols, 2.9 * rows), dpi=110, nrows=rows, ncols=cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, r in zip(axes.flat, rounds):
        names = list(r["importances"])
        means = [r["importances"][k] or 0.0 for k in names]
        stds = [(r.get("importances_std") or {}).get(k) or 0.0 for k in names]
        colors = ["tab:red" if k == r["pruned"] else "tab:blue" for k in names]
        ax.bar(range(len(names)), means, yerr=stds, color=colors, capsize=2)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
        set_title(ax, f"round {r['round']}: pruned {r['pruned']} = {r['fixed_value']} "
                      f"({(r.get('agreement') or 0):.0%})", width=44)
        ax.set_ylabel(r.get("importance_method", "importance"), fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    return save_figure(fig, path)


def frontier_plot(doc: Mapping[str, Any], path: str | Path, *, unit: str = "") -> Path:
    """Rho against cost per arch (log x) of every measured setting; the front and the chosen one marked."""
    traj = [t for t in doc["trajectory"] if t["spearman"] is not None]
    fig, ax = new_figure(figsize=(8, 4.3), dpi=120)
    rounds = sorted({t["extra"].get("round", 0) for t in traj}, key=lambda r: (isinstance(r, str), str(r).zfill(6)))
    cmap = __import__("matplotlib").colormaps["viridis"]
    top = len((doc["mip"].get("halving") or {}).get("rungs") or [None]) - 1
    for i, rnd in enumerate(rounds):
        pts = [t for t in traj if t["extra"].get("round", 0) == rnd]
        full = [t for t in pts if t["extra"].get("rung", top) == top]
        color = cmap(i / max(1, len(rounds) - 1))
        ax.scatter([t["cost_per_arch"] for t in full], [t["spearman"] for t in full], s=18, alpha=0.8, color=color,
                   label=f"round {rnd}" if not isinstance(rnd, str) else "scorers, blends", zorder=2)
        part = [t for t in pts if t["extra"].get("rung", top) != top]
        ax.scatter([t["cost_per_arch"] for t in part], [t["spearman"] for t in part], s=18, alpha=0.8,
                   facecolors="none", edgecolors=color, zorder=2,
                   label=f"round {rnd}, on fewer archs (not promoted)" if part else None)
    front = [doc["trajectory"][i] for i in doc.get("frontier", [])]
    if front:
        ax.step([t["cost_per_arch"] for t in front], [t["spearman"] for t in front], where="post",
                color="black", lw=1, label="front", zorder=3)
    cap = doc["objective"].get("max_cost")
    if cap:
        ax.axvline(cap, color="gray", ls="--", lw=1, label="cap")
    m = doc.get("measured")
    if m:
        ax.scatter([m["cost_per_arch"]], [m["spearman"]], marker="*", s=200, color="tab:red", zorder=4,
                   label=f"chosen: rho {m['spearman']:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel(f"cost per architecture ({unit})" if unit else "cost per architecture")
    ax.set_ylabel("Spearman rho with ground truth")
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax, fontsize=6)
    return save_figure(fig, path)


#: What `bpe mip` writes: ``bpe.json`` and its two plots (same stem).
MIP_OUTPUTS = (".json", "_importance.png", "_frontier.png")


def mip_outputs(out: str | Path) -> OutputSet:
    """The output files of a MIP run at ``out`` (checked writable before any work)."""
    return plan_outputs(out, suffixes=MIP_OUTPUTS, default_stem="bpe", command="bpe mip")


def write_mip(doc: Mapping[str, Any], out: str | Path | OutputSet, *, plot: bool = True) -> list[Path]:
    """Write ``bpe.json`` atomically, and the two plots beside it (``<stem>_importance.png``,
    ``<stem>_frontier.png``); plots of an earlier run are removed under ``plot=False``."""
    outputs = out if isinstance(out, OutputSet) else mip_outputs(out)
    outputs.write_json(doc)
    paths = [outputs.main]
    if plot:
        unit = (doc.get("measured") or {}).get("cost_unit", "")
        paths.append(importance_plot(doc, outputs.path("_importance.png")))
        paths.append(frontier_plot(doc, outputs.path("_frontier.png"), unit=unit))
    return outputs.finish(paths)
