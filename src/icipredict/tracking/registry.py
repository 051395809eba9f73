"""Model registry: register a run's model as ``challenger``, promote it to ``champion`` through a gate.

Registry stages are deprecated in MLflow, so only **aliases** and **tags** are used:

- :func:`register` scans the run for its training cohort's patient and sample IDs (a hit blocks
  it: :mod:`icipredict.tracking.scan`), then creates a version from the run's model and points
  alias ``challenger`` at it.
- :func:`promote` moves alias ``champion`` to a version only when the gate passes on the same
  held-out evaluation data for both models: the challenger's AUC and C-index are not worse than
  the champion's beyond ``margin`` (the 2.5% bound of the paired-bootstrap difference must be above
  ``-margin``) and its calibration slope lies within 0.8-1.2. The first version of a model has no
  champion to beat: it becomes champion when its calibration check passes. ``force=True`` (with a
  reason) overrides a refusal; the reason is recorded as a version tag.

Every decision, accepted or refused, is written to the version's tags (``promotion.*``).
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.errors import RegistryError

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
#: Calibration slope range the gate accepts (1 = ideal; < 1 over-confident, > 1 under-confident).
SLOPE_RANGE = (0.8, 1.2)


class PromotionError(RegistryError):
    """A promotion request that cannot be evaluated (e.g. ``force`` without a reason)."""


@dataclass
class EvalData:
    """Held-out evaluation data shared by the challenger and the champion.

    Parameters
    ----------
    X
        Model input, one row per patient (what the registry model's ``predict`` takes).
    response
        Binary responder labels (1 = CR/PR), or None.
    os_time, os_event, pfs_time, pfs_event
        Survival times in months and event flags (1 = event), or None.
    """

    X: pd.DataFrame
    response: np.ndarray | None = None
    os_time: np.ndarray | None = None
    os_event: np.ndarray | None = None
    pfs_time: np.ndarray | None = None
    pfs_event: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.X)
        for name in ("response", "os_time", "os_event", "pfs_time", "pfs_event"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=float)
            if len(value) != n:
                raise ValueError(f"EvalData.{name} has {len(value)} values for {n} rows of X")
            setattr(self, name, value)

    #: Outcome columns (canonical names) that :meth:`from_frame` takes off the model input.
    OUTCOMES = {"response": "responder", "os_time": "os_months", "os_event": "os_event",
                "pfs_time": "pfs_months", "pfs_event": "pfs_event"}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> EvalData:
        """Split a held-out table into model input and outcomes (canonical outcome columns).

        Every outcome column present (``responder``, ``os_months``/``os_event``,
        ``pfs_months``/``pfs_event``, plus ``bor``) is removed from the input.
        """
        kwargs = {field_: frame[col].to_numpy(dtype=float)
                  for field_, col in cls.OUTCOMES.items() if col in frame}
        drop = [c for c in [*cls.OUTCOMES.values(), "bor"] if c in frame]
        return cls(X=frame.drop(columns=drop), **kwargs)

    @classmethod
    def read(cls, path: str | Path) -> EvalData:
        """Read a held-out table (CSV, TSV or Parquet) with :meth:`from_frame`."""
        from icipredict.cohort.schema import CohortError

        path = Path(path)
        if not path.is_file():
            raise CohortError("evaluation data not found", file=path)
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
        if not any(c in frame for c in cls.OUTCOMES.values()):
            raise CohortError(f"no outcome column; expected some of {list(cls.OUTCOMES.values())}",
                              file=path)
        return cls.from_frame(frame)


@dataclass
class Comparison:
    """Paired-bootstrap comparison of one metric between challenger and champion."""

    metric: str
    challenger: float
    champion: float
    diff: float
    diff_ci_low: float
    diff_ci_high: float
    passed: bool


@dataclass
class PromotionDecision:
    """The outcome of :func:`promote`."""

    name: str
    version: str
    promoted: bool
    forced: bool = False
    reasons: list[str] = field(default_factory=list)
    previous_champion: str | None = None
    calibration_slope: float | None = None
    comparisons: list[Comparison] = field(default_factory=list)
    margin: float = 0.02
    force_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """One human-readable paragraph: what happened and why."""
        verb = "promoted to champion" if self.promoted else "NOT promoted"
        if self.forced:
            verb += f" (forced: {self.force_reason})"
        lines = [f"{self.name} version {self.version}: {verb}."]
        lines += [f"  - {r}" for r in self.reasons]
        return "\n".join(lines)


# --------------------------------------------------------------------------- metrics


def calibration_slope(y: np.ndarray, p: np.ndarray) -> float:
    """Calibration slope (ideal 1; < 1 means predictions too extreme), see evaluation.metrics."""
    from icipredict.evaluation.metrics import calibration_slope as slope

    return float(slope(np.asarray(y, dtype=float), np.asarray(p, dtype=float)))


# --------------------------------------------------------------------------- model outputs


@dataclass
class ModelScores:
    """What the gate needs from a model's predictions on the evaluation data."""

    response_probability: np.ndarray | None = None
    risk_score: np.ndarray | None = None


def scores_from_output(output: Any) -> ModelScores:
    """Read a model's ``predict`` output into response probabilities and a risk score.

    Accepts the registry model's DataFrame (``response_probability``, ``risk_score``), a 2-column
    ``predict_proba`` array (the second column is P(responder)), or a 1-D array of probabilities.
    """
    if isinstance(output, pd.DataFrame):
        prob = output["response_probability"] if "response_probability" in output else None
        risk = output["risk_score"] if "risk_score" in output else None
        if prob is None and risk is None and output.shape[1] in (1, 2):
            prob = output.iloc[:, -1]
        return ModelScores(
            None if prob is None else np.asarray(prob, dtype=float),
            None if risk is None else np.asarray(risk, dtype=float),
        )
    arr = np.asarray(output, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return ModelScores(response_probability=arr[:, 1])
    if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
        return ModelScores(response_probability=arr.ravel())
    raise ValueError(f"cannot read model output of shape {arr.shape} as probabilities")


_EXTRA_INPUTS = "Found extra inputs in the model input that are not defined in the model"


class _ExtraInputsFilter(logging.Filter):
    """Swallow MLflow's "Found extra inputs ..." warning (one column list per call), keep the names."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(_EXTRA_INPUTS):
            return True
        listed = message.split("`")[1] if message.count("`") >= 2 else "[]"
        try:
            self.columns.update(str(c) for c in ast.literal_eval(listed))
        except (ValueError, SyntaxError):
            self.columns.add("?")
        return False


@contextlib.contextmanager
def schema_warnings_summarised() -> Iterator[_ExtraInputsFilter]:
    """Replace MLflow's per-call lists of ignored input columns by one summary line.

    MLflow warns, on every ``predict``, with the full list of input columns the model's signature
    does not declare (often ~100 names). Inside this context those warnings are collected and one
    line is logged at the end: how many columns were ignored, with a few examples.
    """
    target = logging.getLogger("mlflow.models.utils")
    collector = _ExtraInputsFilter()
    target.addFilter(collector)
    try:
        yield collector
    finally:
        target.removeFilter(collector)
        if collector.columns:
            names = sorted(collector.columns)
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            logger.warning("%d input column(s) not in the model signature were ignored (%s)",
                           len(names), shown)


def _load_scores(name: str, version: str, data: EvalData) -> ModelScores:
    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    return scores_from_output(model.predict(data.X))


# --------------------------------------------------------------------------- registry verbs


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def _model_uri_of_run(run_id: str, artifact_path: str | None) -> str:
    """The URI of the model logged in a run (MLflow 3 logged models, or a run artifact path)."""
    import mlflow

    if artifact_path is not None:
        return f"runs:/{run_id}/{artifact_path}"
    run = mlflow.get_run(run_id)
    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}'",
        output_format="list",
    )
    if not models:
        raise ValueError(f"run {run_id} has no logged model to register")
    if len(models) > 1:
        names = sorted(m.name for m in models)
        raise ValueError(
            f"run {run_id} has {len(models)} logged models {names}: pass artifact_path=NAME"
        )
    return models[0].model_uri


def register(run_id: str, name: str, *, artifact_path: str | None = None,
             forbidden_ids: Iterable[str] = ()) -> str:
    """Register the model logged in ``run_id`` as a new version of ``name``, alias ``challenger``.

    First the run is scanned (:func:`icipredict.tracking.scan.scan_run`: every artifact, logged
    model, param, tag and dataset record) for the patient and sample IDs of the cohort it was
    trained on (:func:`icipredict.tracking.scan.cohort_ids`) and for ``forbidden_ids``; a hit
    raises and nothing is registered.

    Parameters
    ----------
    run_id
        The MLflow run that logged the model.
    name
        Registered model name.
    artifact_path
        Name of the logged model within the run; needed only when the run logged several.
    forbidden_ids
        Further IDs the run may not hold (e.g. a source file's raw IDs).

    Returns
    -------
    str
        The new version number.

    Raises
    ------
    icipredict.tracking.scan.ArtifactLeakError
        The run stored a forbidden ID (listed with where it was found).
    ValueError
        The run's training cohort cannot be read, so the run cannot be scanned.
    """
    import mlflow

    from icipredict.tracking.scan import assert_run_clean, cohort_ids

    uri = _model_uri_of_run(run_id, artifact_path)
    ids = cohort_ids(run_id) | {str(i) for i in forbidden_ids}
    if not ids:
        logger.warning("run %s has no training lineage and no forbidden IDs were given: "
                       "nothing to scan its artifacts for", run_id)
    assert_run_clean(run_id, ids)
    # a federated run's lineage (centres, rounds, min_count, dropped centres) goes with it
    tags = {k: v for k, v in mlflow.get_run(run_id).data.tags.items()
            if k.startswith("federation.") or k == "icipredict.federated"}
    mv = mlflow.register_model(uri, name, tags={"source_run_id": run_id, **tags})
    client = _client()
    client.set_registered_model_alias(name, CHALLENGER, mv.version)
    logger.info("registered %s version %s from run %s as %s", name, mv.version, run_id, CHALLENGER)
    return str(mv.version)


def resolve(name: str, ref: str) -> str:
    """Return the version number for a version number or an alias (``champion``)."""
    if str(ref).isdigit():
        return str(ref)
    return str(_client().get_model_version_by_alias(name, ref).version)


def current_champion(name: str) -> str | None:
    """Version number holding the ``champion`` alias, or None when there is none yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def evaluate_gate(
    challenger: ModelScores,
    champion: ModelScores | None,
    data: EvalData,
    *,
    margin: float = 0.02,
    slope_range: tuple[float, float] = SLOPE_RANGE,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[bool, list[str], float | None, list[Comparison]]:
    """Apply the promotion gate to precomputed predictions (no registry access).

    Returns
    -------
    passed, reasons, calibration_slope, comparisons
    """
    reasons: list[str] = []
    passed = True
    slope = None
    if challenger.response_probability is not None and data.response is not None:
        # Patients without a label or a prediction (e.g. incomplete data) are left out.
        ok_rows = np.isfinite(data.response) & np.isfinite(challenger.response_probability)
        slope = calibration_slope(data.response[ok_rows],
                                  challenger.response_probability[ok_rows])
        low, high = slope_range
        if low <= slope <= high:
            reasons.append(f"calibration slope {slope:.3f} within {low}-{high}")
        else:
            passed = False
            reasons.append(f"calibration slope {slope:.3f} outside {low}-{high}")
    else:
        reasons.append("calibration not checked: no response probabilities or labels")

    comparisons: list[Comparison] = []
    if champion is None:
        reasons.append("no current champion: nothing to compare against")
        return passed, reasons, slope, comparisons

    from icipredict.evaluation.compare import compare_auc, compare_c_index

    results = []
    if data.response is not None and challenger.response_probability is not None \
            and champion.response_probability is not None:
        results.append(("auc", compare_auc(data.response, challenger.response_probability,
                                           champion.response_probability,
                                           n_boot=n_boot, seed=seed)))
    for end in ("os", "pfs"):
        t, e = getattr(data, f"{end}_time"), getattr(data, f"{end}_event")
        if t is None or e is None or challenger.risk_score is None or champion.risk_score is None:
            continue
        rows = (np.isfinite(t) & np.isfinite(e) & np.isfinite(challenger.risk_score)
                & np.isfinite(champion.risk_score))
        results.append((f"cindex_{end}", compare_c_index(
            t[rows], e[rows], challenger.risk_score[rows], champion.risk_score[rows],
            n_boot=n_boot, seed=seed)))
    if not results:
        reasons.append("no metric both models can be compared on")
        return False, reasons, slope, comparisons

    for metric, res in results:
        a, b, d = res.a.value, res.b.value, res.difference
        ok = bool(np.isfinite(d.low) and d.low > -margin)
        comparisons.append(Comparison(metric, a, b, d.value, float(d.low), float(d.high), ok))
        word = "not worse" if ok else "worse"
        reasons.append(
            f"{metric}: challenger {a:.3f} vs champion {b:.3f}, difference {d.value:+.3f} "
            f"(95% CI {d.low:+.3f} to {d.high:+.3f}): {word} beyond margin {margin}"
        )
        passed = passed and ok
    return passed, reasons, slope, comparisons


def promote(
    name: str,
    version: str | int,
    *,
    eval_data: EvalData,
    margin: float = 0.02,
    force: bool = False,
    reason: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> PromotionDecision:
    """Move alias ``champion`` to ``version`` if the promotion gate passes (or when forced).

    Parameters
    ----------
    name, version
        The registered model and the candidate version (a number or an alias).
    eval_data
        Held-out data on which both the candidate and the current champion are scored.
    margin
        How much worse (AUC / C-index points) the candidate may be: the lower 95% bound of the
        paired-bootstrap difference must exceed ``-margin``.
    force, reason
        Promote even if the gate refuses; ``reason`` is required and recorded as a version tag.
    n_boot, seed
        Bootstrap resamples and seed.

    Returns
    -------
    PromotionDecision
        ``promoted`` tells whether the alias moved; ``reasons`` says why.
    """
    if force and not (reason and reason.strip()):
        raise PromotionError("--force needs a --reason that is recorded with the version")
    version = resolve(name, str(version))
    client = _client()
    client.get_model_version(name, version)  # fails clearly if it does not exist
    champion_version = current_champion(name)
    if champion_version == version:
        return PromotionDecision(name, version, promoted=True, margin=margin,
                                 previous_champion=champion_version,
                                 reasons=[f"version {version} already holds {CHAMPION}"])

    with schema_warnings_summarised():
        new = _load_scores(name, version, eval_data)
        old = _load_scores(name, champion_version, eval_data) if champion_version else None
    passed, reasons, slope, comparisons = evaluate_gate(
        new, old, eval_data, margin=margin, n_boot=n_boot, seed=seed
    )
    decision = PromotionDecision(
        name=name, version=version, promoted=passed or force, forced=force and not passed,
        reasons=reasons, previous_champion=champion_version, calibration_slope=slope,
        comparisons=comparisons, margin=margin,
        force_reason=reason if force and not passed else None,
    )
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    _tag_decision(client, decision)
    logger.info("%s", decision.summary())
    return decision


def _tag_decision(client, decision: PromotionDecision) -> None:
    tags = {
        "promotion.decision": "promoted" if decision.promoted else "refused",
        "promotion.reasons": json.dumps(decision.reasons)[:4900],
        "promotion.previous_champion": decision.previous_champion or "none",
        "promotion.margin": str(decision.margin),
    }
    if decision.calibration_slope is not None:
        tags["promotion.calibration_slope"] = f"{decision.calibration_slope:.4f}"
    if decision.forced:
        tags["promotion.forced_reason"] = decision.force_reason or ""
    for key, value in tags.items():
        client.set_model_version_tag(decision.name, decision.version, key, value)
