"""A MIP run as an Optuna study, so it can be watched live in ``optuna-dashboard``, shared through
any database Optuna accepts, and compared with other runs there.

Every measured candidate is one trial, added as it is measured: a setting (one trial per readout,
and again at each successive-halving rung it reaches), a training-free scorer or a blend of the
families step.  Its knob values are the trial's parameters (categorical, over the knob grids, so
the dashboard's parameter plots read them); its Spearman rho and cost per arch are the two
objective values (maximise, minimise: the dashboard's Pareto front is MIP's frontier); its
interval, tau, number of archs, round, rung, family and name are user attributes.  A candidate
whose rho is undefined is a failed trial.  Each round's prune decision, and at the end what was
exported, are attributes of the study.

A study belongs to one run: its name defaults to ``mip-`` and a digest of the run's inputs
(knob grids, settings, the truth's and the data's fingerprints, archs), kept as the study's
``identity`` attribute.  Rerunning the same command (after a kill, say) reopens that study and
resumes from it: each trial keeps the whole measured result (``result``) under the setting's
identity (``identity``), and the measurements a decision rests on that are no trial (a
setting's first arch timed alone) are study attributes, so a live run reads back what the study
holds instead of training it again (the evaluation cache may be elsewhere, or gone), retraces
the same trajectory and adds only the trials the study lacks.  ``bpe.json`` stays the exported
contract.

A live run's costs are seconds of the machine that measured them, so every trial and every
remembered timing carries that machine's :func:`~bpe.machine.machine_key` (the study keeps what
each key stands for, ``machine_<key>``: CPU model, ISA flags, cores, torch), and a run reads
back only what its own machine measured: on another machine sharing the database it measures
again (its trials are added beside the first machine's), so the cost model and the cap never mix
two machines' seconds.  A tabular run's costs are the records', on no machine of ours.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bpe.errors import BPEError
from bpe.machine import machine_info
from bpe.mip.evaluators import SettingResult
from bpe.mip.importance import knob_categories
from bpe.mip.knobs import KnobSpace
from bpe.outputs import jsonable

if TYPE_CHECKING:
    from bpe.mip.search import Round

__all__ = ["MIPStudy", "default_storage", "open_study", "run_identity", "NO_STORAGE"]

log = logging.getLogger(__name__)

#: ``--storage`` value that keeps the run out of any study.
NO_STORAGE = "none"

#: The two objectives, in the order of a trial's values.
DIRECTIONS = ("maximize", "minimize")
#: The objectives' names (the axes of optuna-dashboard's plots).
METRIC_NAMES = ("spearman", "cost_per_arch")


def default_storage(out_json: str | Path) -> str:
    """The SQLite database beside ``bpe.json`` (``NAME.db`` for ``NAME.json``), as a URL (a ``?``
    or ``%`` in the path is escaped)."""
    from sqlalchemy.engine import URL  # Optuna's dependency

    path = str(Path(out_json).with_suffix(".db").resolve())
    return URL.create("sqlite", database=path).render_as_string(hide_password=False)


def _number(value: Any) -> float | None:
    """``value`` as a float (numpy scalars included), ``None`` when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _identity_key(identity: tuple) -> str:
    """A setting's identity (a tuple of knob values or a record's name) as a trial attribute."""
    return json.dumps(jsonable(list(identity)), sort_keys=True)


def _nan(value: Any) -> Any:
    """``None`` (how JSON keeps a non-finite float) back to ``nan``; lists element by element."""
    if isinstance(value, list):
        return [_nan(v) for v in value]
    return math.nan if value is None else value


def _measured_key(name: str) -> str:
    """The study attribute a remembered measurement is kept under."""
    return "measured_" + hashlib.sha256(name.encode()).hexdigest()[:16]


_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(SettingResult))


def _result_from_json(doc: Mapping[str, Any]) -> SettingResult | None:
    """The :class:`SettingResult` a trial kept (``SettingResult.to_dict`` through JSON), a copy
    of it; ``None`` when it is not one this version can read (then the setting is measured)."""
    if set(doc) != set(_RESULT_FIELDS):
        return None
    fields = copy.deepcopy(dict(doc))
    for name in ("spearman", "kendall", "cost_per_arch", "spearman_ci95", "kendall_ci95"):
        fields[name] = _nan(fields.get(name))
    try:
        return SettingResult(**fields)
    except (TypeError, ValueError):
        return None


def run_identity(inputs: Mapping[str, Any]) -> str:
    """A short digest of a run's ``inputs`` (what makes two runs the same run)."""
    text = json.dumps(jsonable(inputs), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class MIPStudy:
    """Record a MIP run into an Optuna study, and read it back to resume the run (module doc).

    Args:
        storage: an Optuna storage URL (``sqlite:///PATH``, ``postgresql://...``).
        knobs: the run's knob grids (the trials' parameter distributions).
        identity: :func:`run_identity` of the run's inputs.
        study_name: the study; default ``mip-<identity>``.
        machine: the :func:`~bpe.machine.machine_key` the run's costs are measured on (a live
            run); ``None`` where costs are not this machine's (recorded settings).

    Raises:
        BPEError: the storage cannot be opened, or ``study_name`` holds another run.
    """

    def __init__(self, storage: str, knobs: KnobSpace, *, identity: str, study_name: str | None = None,
                 machine: str | None = None) -> None:
        import optuna  # ~0.1 s, and sqlalchemy with it: only a run with a storage needs it

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self.storage_url, self.identity, self.machine = storage, identity, machine
        self._foreign_said = False
        self.study_name = study_name or f"mip-{identity}"
        self.knobs = knobs
        self._dists = knob_categories(knobs)  # the trials' parameter distributions, as PED-ANOVA reads them
        from sqlalchemy import make_url

        try:  # a SQLite file this run creates is removed again if the run is refused (discard_if_new)
            url = make_url(storage)
            sqlite_file = Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None
        except Exception:  # noqa: BLE001 - a malformed URL is reported below, by the storage itself
            sqlite_file = None
        self._new_file = sqlite_file if sqlite_file is not None and not sqlite_file.exists() else None
        try:
            self._storage = optuna.storages.RDBStorage(storage)
            self._new_study = self.study_name not in {s.study_name for s in
                                                      optuna.get_all_study_summaries(self._storage)}
            self.study = optuna.create_study(storage=self._storage, study_name=self.study_name,
                                             directions=list(DIRECTIONS), load_if_exists=True)
        except (ImportError, ValueError, OSError) as err:  # a malformed URL, an unknown driver, no such folder
            first = (str(err).strip().splitlines() or [""])[0]
            raise BPEError(f"cannot open the Optuna storage {storage} ({first}); give --storage sqlite:///PATH.db, "
                           "another database URL Optuna accepts, or --storage none") from None
        except Exception as err:  # noqa: BLE001 - sqlalchemy's OperationalError and kin: the database refused
            first = (str(err).strip().splitlines() or [""])[0]
            raise BPEError(f"cannot open the Optuna storage {storage} ({type(err).__name__}: {first}); check the URL "
                           "and that the database can be written, or pass --storage none") from None
        if [d.name.lower() for d in self.study.directions] != list(DIRECTIONS):
            raise BPEError(f"the study {self.study_name} in {storage} is not a MIP run (its objectives are not rho "
                           "and cost per arch); pass another --study-name")
        held = self.study.user_attrs.get("identity")
        if held is None and self.study.trials:
            raise BPEError(f"the study {self.study_name} in {storage} holds trials of something else; pass another "
                           "--study-name")
        if held is not None and held != identity:
            raise BPEError(f"the study {self.study_name} in {storage} holds another MIP run (inputs {held}, this one "
                           f"{identity}); pass another --study-name, or leave it out for one per run")
        self.broken = False
        try:
            self.study.set_user_attr("identity", identity)
            if machine is not None and f"machine_{machine}" not in self.study.user_attrs:
                self.study.set_user_attr(f"machine_{machine}", jsonable(machine_info()))
            if self.study.metric_names != list(METRIC_NAMES):  # the dashboard's axes say what they are
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", self._optuna.exceptions.ExperimentalWarning)
                    self.study.set_metric_names(list(METRIC_NAMES))
        except Exception as err:  # noqa: BLE001 - read-only or locked: refused before any work
            raise BPEError(f"cannot write to the Optuna storage {storage} ({type(err).__name__}); check that the "
                           "database can be written, or pass --storage none") from None
        self._keys = {t.user_attrs.get("key") for t in self.study.trials}

    # -- trials -----------------------------------------------------------------------------
    def _key(self, result: SettingResult) -> str:
        rung = result.extra.get("rung")
        what = [result.family, result.name, result.setting, rung, result.n_archs]
        return json.dumps(jsonable(what if self.machine is None else [*what, self.machine]), sort_keys=True)

    def _params(self, result: SettingResult) -> tuple[dict[str, Any], dict[str, Any]]:
        # a scorer or a blend has no knob values; a value off the grid is not a parameter
        params = {name: result.setting[name] for name, grid in self.knobs.grids.items()
                  if result.setting.get(name) is not None and result.setting[name] in grid.values}
        return params, {name: self._dists[name] for name in params}

    def _write(self, what: str, action: Any) -> Any:
        """Run a write to the storage; a failure mid-run (a locked or vanished database) is logged
        once and ends the recording, never the run: ``bpe.json`` is the contract, the study a view."""
        if self.broken:
            return None
        try:
            return action()
        except Exception as err:  # noqa: BLE001 - any storage error: the run goes on without its study
            self.broken = True
            first = (str(err).strip().splitlines() or [""])[0]
            log.warning("could not write %s to the Optuna study %s in %s (%s: %s); the run goes on without it",
                        what, self.study_name, self.storage_url, type(err).__name__, first)
            return None

    def record(self, result: SettingResult, identity: tuple | None = None) -> bool:
        """Add ``result`` as a trial unless the study holds it already; whether it was added.
        ``identity``: the source's identity of the measured setting (:meth:`recall` finds the
        trial by it)."""
        return bool(self._write(f"the trial of {result.name or result.setting}",
                                lambda: self._record(result, identity)))

    def _record(self, result: SettingResult, identity: tuple | None) -> bool:
        key = self._key(result)
        if key in self._keys:
            return False
        params, dists = self._params(result)
        attrs = jsonable({"key": key, "family": result.family, "name": result.name, "n_archs": result.n_archs,
                        "n_ok": result.n_ok, "spearman_ci95": result.spearman_ci95, "kendall": result.kendall,
                        "kendall_ci95": result.kendall_ci95, "round": result.extra.get("round"),
                        "rung": result.extra.get("rung"), "report": result.setting.get("report"),
                        "identity": None if identity is None else _identity_key(identity),
                        "machine": self.machine, "result": result.to_dict()})
        values = [_number(result.spearman), _number(result.cost_per_arch)]
        finite = all(v is not None and math.isfinite(v) for v in values)
        state = self._optuna.trial.TrialState
        trial = self._optuna.trial.create_trial(
            params=params, distributions=dists, user_attrs=attrs,
            values=values if finite else None,
            state=state.COMPLETE if finite else state.FAIL)
        self.study.add_trial(trial)
        self._keys.add(key)
        return True

    # -- resuming from the storage -------------------------------------------------------------
    def _read(self, what: str, action: Any) -> Any:
        """Run a read of the storage; a failure is contained as a write's is (:meth:`_write`):
        the run measures instead of recalling."""
        return self._write(f"(reading) {what}", action)

    def recall(self, identity: tuple, rung: int | None, variants: Sequence[Mapping[str, Any]]) -> list[SettingResult] | None:
        """The results the study holds of the setting ``identity`` measured at ``rung``
        (``None``: without successive halving), one per entry of ``variants`` (the derived knobs'
        values of each readout; none: the setting's one result), in their order; ``None`` unless
        every one is there.  A run resumed from the storage reads them instead of measuring
        again (the evaluation cache may be elsewhere, or gone).  Each is a fresh copy."""
        if self.broken:
            return None
        wanted = _identity_key(identity)
        trials = self._read("the trials", lambda: self.study.get_trials(deepcopy=False))
        if trials is None:
            return None
        held: dict[str, Mapping[str, Any]] = {}  # trial key -> its result (a duplicate from another writer: once)
        foreign = 0
        for t in sorted(trials, key=lambda t: t.number):
            attrs = t.user_attrs
            if attrs.get("identity") == wanted and attrs.get("rung") == rung and isinstance(attrs.get("result"), dict):
                if attrs.get("machine") != self.machine:  # its seconds are another machine's
                    foreign += 1
                    continue
                held.setdefault(str(attrs.get("key")), attrs["result"])
        if foreign and not held and not self._foreign_said:
            self._foreign_said = True
            log.warning("the study %s holds results measured on another machine; their costs are that machine's, so "
                        "this run measures them again here (its trials are added beside them)", self.study_name)
        out = []
        for variant in list(variants) or [{}]:
            match = [r for r in held.values() if isinstance(r.get("setting"), dict)
                     and all(r["setting"].get(k) == v for k, v in variant.items())]
            result = _result_from_json(match[0]) if len(match) == 1 else None
            if result is None:
                return None
            out.append(result)
        return out

    def remember(self, name: str, value: Any) -> None:
        """Keep a measurement the run's decisions depend on that is not a trial (a setting's
        first arch timed alone: the cost model's first point, the cap's probe), under ``name``,
        for this run's machine."""
        self._write(name, lambda: self.study.set_user_attr(self._measured(name), jsonable(
            {"name": name, "value": value, "machine": self.machine})))

    def remembered(self, name: str) -> Any:
        """What :meth:`remember` kept under ``name`` on this run's machine, else ``None``."""
        if self.broken:
            return None
        held = self._read(name, lambda: self.study.user_attrs.get(self._measured(name)))
        ok = isinstance(held, dict) and held.get("name") == name and held.get("machine") == self.machine
        return held["value"] if ok else None

    def _measured(self, name: str) -> str:
        return _measured_key(name if self.machine is None else f"{name} @ {self.machine}")

    # -- the run ------------------------------------------------------------------------------
    def record_round(self, entry: Round) -> None:
        """Keep a round's prune decision (importances, pruned knob and value, agreement, note) from
        its :class:`~bpe.mip.search.Round`."""
        written = entry.to_dict()
        keep = {k: written[k] for k in ("round", "pruned", "fixed_value", "importances", "agreement", "note",
                                        "importance_method") if k in written}
        name = f"round_{int(entry.round):02d}"
        self._write(name, lambda: self.study.set_user_attr(name, jsonable(keep)))

    def record_export(self, doc: Mapping[str, Any], path: str | Path) -> None:
        """Keep what the run exported and where (its ``bpe.json``)."""
        measured = doc.get("measured") or {}
        self._write("the export", lambda: self.study.set_user_attr("export", jsonable({
            "bpe_json": str(Path(path).resolve()), "family": measured.get("family"), "name": measured.get("name"),
            "spearman": measured.get("spearman"), "cost_per_arch": measured.get("cost_per_arch"),
            "confirmation_spearman": measured.get("confirmation_spearman")})))

    def discard_if_new(self) -> None:
        """Remove what opening the study made, when the run was refused before its first trial: the
        study if this run created it, and the SQLite file if this run created that too."""
        if self.study.trials or not self._new_study:
            return
        try:
            self._optuna.delete_study(study_name=self.study_name, storage=self._storage)
            self._storage.engine.dispose()
            if self._new_file is not None and self._new_file.exists():
                self._new_file.unlink()
        except Exception as err:  # noqa: BLE001 - best effort: the refusal is what the user must see
            log.debug("could not remove the empty study %s: %s", self.study_name, err)

    def describe(self) -> dict[str, str]:
        """``storage`` and ``study_name`` (for ``bpe.json``'s provenance and the CLI)."""
        return {"storage": self.storage_url, "study_name": self.study_name}


def open_study(storage: str | None, out_json: str | Path, knobs: KnobSpace, inputs: Mapping[str, Any], *,
               study_name: str | None = None, machine: str | None = None) -> MIPStudy | None:
    """The study a run records into: ``storage`` (``None``: SQLite beside ``out_json``; ``none``:
    no study), named ``study_name`` or after the digest of ``inputs``, its costs measured on
    ``machine`` (see :class:`MIPStudy`).  Opened before any work, so a storage that cannot be
    written is reported first."""
    if storage is not None and storage.strip().lower() == NO_STORAGE:
        if study_name:
            raise BPEError("--study-name names a study in --storage; drop it, or give a storage")
        return None
    return MIPStudy(storage or default_storage(out_json), knobs, identity=run_identity(inputs), study_name=study_name,
                    machine=machine)
