"""Score patients for the tumour board through the registry model.

The model is read only through the registry: the bundle of a ``models:/NAME@ALIAS`` (or
``models:/NAME/VERSION``, or a local model folder), read by
:class:`~icipredict.registry.bundle.Bundle` through its manifest: the models, the training
domain (cancer types, drug classes and per-feature ranges seen in training), the risk tertile
cut-points and, for models with imaging, how training computed radiomics (a record's images and
stored patients are computed with the same settings and lesion rule; a different engine version
or settings hash becomes the board warning ``radiomics_settings_mismatch``). No training code is
imported.

:func:`score` turns one record into a :class:`BoardScore`: the model output plus its meaning
("estimated chance of response N%"), survival curves, the risk group, the top reasons and
warnings. Loaded models are cached per URI, so a warm score costs one small ``predict`` call.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from icipredict.cohort.schema import CohortError
from icipredict.predict.explain import Reason, top_reasons
from icipredict.predict.record import (
    PatientRecord,
    parse_record,
    parse_records,
    read_record_list,
    record_frame,
)

if TYPE_CHECKING:
    from icipredict.registry.bundle import Bundle

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/icipredict@champion"
#: Version of the BoardScore JSON layout (bump on incompatible changes).
SCORE_SCHEMA_VERSION = "1.0"
#: Months at which survival curves are evaluated (12 and 24 are reported with CIs).
CURVE_MONTHS: tuple[int, ...] = (1, 3, 6, 9, 12, 18, 24, 30, 36)
REPORT_MONTHS: tuple[int, ...] = (12, 24)
INTENDED_USE = (
    "Decision support for a molecular tumour board considering immune checkpoint inhibitors for "
    "adults with advanced solid cancer. Estimates are from a statistical model trained on "
    "retrospective cohorts; they support, never replace, the board's clinical judgement, and must "
    "not be used for patients outside the model's validity domain (see warnings)."
)


# ------------------------------------------------------------------------------ result model


class ResponseEstimate(BaseModel):
    """Probability of objective response (RECIST CR/PR) with its 95% CI and plain meaning."""

    probability: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    per_100: int | None = Field(None, description="The probability in percent, rounded.")
    meaning: str = ""


class SurvivalPoint(BaseModel):
    """Survival probability at one time."""

    month: float
    survival: float | None
    ci_low: float | None = None
    ci_high: float | None = None


class SurvivalEstimate(BaseModel):
    """A predicted survival curve (OS or PFS) with its median and landmark survival."""

    curve: list[SurvivalPoint] = Field(default_factory=list)
    median_months: float | None = Field(None, description="Null when not reached.")
    median_reached: bool = False
    at_12m: SurvivalPoint | None = None
    at_24m: SurvivalPoint | None = None


class RiskGroup(BaseModel):
    """The patient's risk score and its training tertile."""

    score: float | None
    group: str | None = Field(None, description="low / intermediate / high (training tertiles).")
    cutpoints: list[float] = Field(default_factory=list)
    endpoint: str | None = Field(None, description="End point of the score's model: os or pfs.")


class BoardWarning(BaseModel):
    """Something the board must know before trusting the numbers."""

    code: str
    message: str


class ModelInfo(BaseModel):
    """Which registry model produced the score."""

    uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    card_link: str | None = None


class BoardScore(BaseModel):
    """Everything the board reads about one patient (see :data:`SCORE_SCHEMA_VERSION`)."""

    schema_version: str = SCORE_SCHEMA_VERSION
    patient_id: str | None = None
    cancer_type: str | None = None
    drug_class: str | None = None
    response: ResponseEstimate
    os: SurvivalEstimate
    pfs: SurvivalEstimate
    risk: RiskGroup
    reasons: list[Reason] = Field(default_factory=list)
    warnings: list[BoardWarning] = Field(default_factory=list)
    completeness: dict[str, float] = Field(default_factory=dict)
    missing_modalities: list[str] = Field(default_factory=list)
    model: ModelInfo
    intended_use: str = INTENDED_USE
    scored_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite numbers are null."""
        return finite(self.model_dump(mode="json"))

    def to_json(self, **kwargs: Any) -> str:
        """JSON text (never NaN/Infinity: they are written as null)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)


def finite(obj: Any) -> Any:
    """Replace NaN/inf (also numpy scalars) by None, recursively."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ------------------------------------------------------------------------------ model loading


@dataclass
class BoardModel:
    """A loaded registry model: its bundle (read through the registry), the model that scores
    and its registry coordinates."""

    uri: str
    bundle: Bundle
    #: The icipredict registry model read from the bundle (None: another pyfunc with the
    #: board's contract and a metadata-only bundle, scored through MLflow).
    model: Any = None
    pyfunc: Any = None
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    card_link: str | None = None
    domain: dict[str, Any] = field(default_factory=dict)
    risk_groups: dict[str, Any] = field(default_factory=dict)
    input_columns: list[str] | None = None
    #: The model's ``radiomics.json`` (how training computed radiomics); empty for models
    #: without imaging (the training defaults apply).
    radiomics: dict[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> ModelInfo:
        """Registry coordinates for the answer."""
        return ModelInfo(uri=self.uri, name=self.name, version=self.version, alias=self.alias,
                         card_link=self.card_link)

    def completeness(self, frame_row: pd.Series) -> dict[str, float] | None:
        """Per modality, the share of the features this model uses (and had training values
        for) that the patient gave; None for a model without icipredict's feature builder."""
        if self.model is None:
            return None
        shares = self.model.builder.completeness(frame_row)
        return {m: float(v) for m, v in shares.iloc[0].items()}

    def predict(self, frame: pd.DataFrame, *, horizons: list[float],
                explain: bool = False, intervals: bool = True) -> pd.DataFrame:
        """The registry model's ``predict`` with the documented params.

        The registry model checks its own input (required columns, numbers with the row and
        column of a bad value) and reads only its own columns, so a frame that has them all goes
        in without a copy (MLflow's generic enforcement of the ``any``-typed numeric columns is
        a Python loop over every value). ``intervals=False`` leaves the CI columns null (the
        intervals are a table lookup: they cost next to nothing either way).
        """
        params = {"horizons": list(horizons), "explain": bool(explain)}
        if not intervals:
            params["intervals"] = False
        columns = self.input_columns
        if self.model is not None:
            if columns is not None and not set(columns).issubset(frame.columns):
                frame = frame.reindex(columns=columns)
            return self.model.predict(None, frame, params=params)
        if columns is not None:
            frame = frame.reindex(columns=columns)
        return self.pyfunc.predict(frame, params=params)


_CACHE: dict[str, BoardModel] = {}
_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget loaded models (e.g. after the champion alias moved)."""
    with _LOCK:
        _CACHE.clear()


def _parse_models_uri(uri: str) -> tuple[str | None, str | None, str | None]:
    """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> (name, alias, version)."""
    if not uri.startswith("models:/"):
        return None, None, None
    rest = uri[len("models:/"):]
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, alias, None
    name, _, version = rest.partition("/")
    return name, None, version or None


def load_board_model(uri: str = DEFAULT_MODEL) -> BoardModel:
    """Load (once per process) the registry model at ``uri`` with its artifacts.

    Parameters
    ----------
    uri
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or a local pyfunc model folder.

    Returns
    -------
    BoardModel
    """
    with _LOCK:
        cached = _CACHE.get(uri)
    if cached is not None:
        return cached
    import mlflow

    from icipredict.registry.bundle import Bundle
    from icipredict.registry.model import ICIPredictModel

    name, alias, version = _parse_models_uri(uri)
    card_link = None
    if name is not None:
        client = mlflow.MlflowClient()
        if alias:
            mv = client.get_model_version_by_alias(name, alias)
        elif version is not None:
            mv = client.get_model_version(name, version)
        else:  # models:/NAME names no version (mlflow would fail on a version of None)
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            raise MlflowException(f"{uri}: no version or alias (give models:/NAME/VERSION or "
                                  "models:/NAME@ALIAS)", error_code=INVALID_PARAMETER_VALUE)
        version = str(mv.version)
        card_link = (mv.tags or {}).get("model_card")
        if card_link is None:
            card_link = f"models:/{name}/{version}"
        # Pin the version so a moving alias cannot change the model under a cached entry.
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}"))
    else:
        local = Path(uri)
        if not local.exists():
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    bundle = Bundle.of_model(local)
    names = [c["name"] for c in bundle.input_columns] or None
    model = BoardModel(uri=uri, bundle=bundle, name=name, version=version, alias=alias,
                       card_link=card_link, input_columns=names, domain=bundle.domain,
                       risk_groups=bundle.risk_groups, radiomics=bundle.radiomics)
    if bundle.has_models:
        model.model = ICIPredictModel().load_bundle(bundle)
    else:
        model.pyfunc = mlflow.pyfunc.load_model(str(local))
    with _LOCK:
        _CACHE[uri] = model
    logger.info("loaded model %s (version %s)", uri, version)
    return model


# ------------------------------------------------------------------------------ interpretation


def _f(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def response_meaning(p: float | None, low: float | None, high: float | None) -> tuple[int | None,
                                                                                     str]:
    """"Estimated chance of response 49% (95% interval 33-66%)" from a probability and its CI.

    The interval is a confidence interval for the *rate* of patients scored alike, not a range
    of responders among 100 such patients (that predictive range would be wider), so the text
    states a chance with its interval rather than a count.
    """
    if p is None:
        return None, "No response estimate could be made."
    n = int(round(100 * p))
    text = f"Estimated chance of response {n}%"
    if low is not None and high is not None:
        text += f" (95% interval {int(round(100 * low))}\u2013{int(round(100 * high))}%)"
    return n, text + "."


def risk_group(score: float | None, risk_groups: dict[str, Any]) -> RiskGroup:
    """Place a risk score in the training tertiles (``risk_groups.json``).

    The rule is the registry model's: low when ``risk < cut_points[0]``, high when
    ``risk >= cut_points[1]``, intermediate between.
    """
    cuts = risk_groups.get("cut_points") or []
    cuts = sorted(float(c) for c in cuts)
    labels = risk_groups.get("labels") or ["low", "intermediate", "high"]
    endpoint = risk_groups.get("endpoint")
    if score is None or len(cuts) != len(labels) - 1:
        return RiskGroup(score=score, group=None, cutpoints=cuts, endpoint=endpoint)
    group = labels[int(np.searchsorted(cuts, score, side="right"))]
    return RiskGroup(score=score, group=group, cutpoints=cuts, endpoint=endpoint)


def _horizon_col(prefix: str, h: float) -> str:
    return f"{prefix}_survival_{float(h):g}m"


def survival_estimate(row: pd.Series, prefix: str, months: tuple[float, ...]) -> SurvivalEstimate:
    """Curve, median and landmark survival of OS (``prefix="os"``) or PFS from one output row."""
    points = [SurvivalPoint(month=0.0, survival=1.0, ci_low=1.0, ci_high=1.0)]
    for h in months:
        col = _horizon_col(prefix, h)
        if col not in row.index:
            continue
        points.append(SurvivalPoint(month=float(h), survival=_f(row[col]),
                                    ci_low=_f(row.get(f"{col}_ci_low")),
                                    ci_high=_f(row.get(f"{col}_ci_high"))))
    median = _f(row.get(f"median_{prefix}_months"))
    by_month = {p.month: p for p in points}
    if len(points) == 1:
        points = []
    return SurvivalEstimate(curve=points, median_months=median, median_reached=median is not None,
                            at_12m=by_month.get(12.0), at_24m=by_month.get(24.0))


def domain_warnings(record: PatientRecord, frame_row: pd.Series,
                    domain: dict[str, Any]) -> list[BoardWarning]:
    """Warnings for categories and values outside what the model saw in training."""
    out: list[BoardWarning] = []
    categories = domain.get("categories") or {}
    types = categories.get("cancer_type")
    if types and record.cancer_type not in types:
        out.append(BoardWarning(code="cancer_type_unseen", message=(
            f"Cancer type {record.cancer_type} was not in the training data "
            f"(seen: {', '.join(sorted(types))}); the estimate is an extrapolation.")))
    classes = categories.get("drug_class")
    drug_class = record.resolved_drug_class()
    if classes and drug_class is not None and drug_class not in classes:
        out.append(BoardWarning(code="drug_class_unseen", message=(
            f"Drug class {drug_class} was not in the training data (seen: "
            f"{', '.join(sorted(classes))}).")))
    for feature, stats in (domain.get("numeric") or {}).items():
        lo, hi = _f(stats.get("min")), _f(stats.get("max"))
        value = _f(frame_row.get(feature)) if feature in frame_row.index else None
        if value is None or (lo is None and hi is None):
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            out.append(BoardWarning(code="value_out_of_range", message=(
                f"{feature} = {value:g} is outside the training range "
                f"[{_fmt(lo)}, {_fmt(hi)}]; the model has not seen such values.")))
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _missing_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    return [str(v) for v in value]


def modality_warnings(completeness: dict[str, float], model_missing: list[str]
                      ) -> list[BoardWarning]:
    """Warnings for missing modalities and thin data (``completeness``: share of the model's
    features given, per modality, see :meth:`BoardModel.completeness`)."""
    out = []
    # Only modalities the model uses count as missing (the pyfunc reports those).
    for m in sorted(set(model_missing)):
        used = [k for k, v in completeness.items() if v > 0 and k != m]
        out.append(BoardWarning(code="modality_missing", message=(
            f"No {m} data: the model fills its {m} features with the training medians and "
            f"flags them as missing, so the estimate rests on {', '.join(used) or 'no'} data "
            "only and is less certain than the interval shows.")))
    for m, frac in completeness.items():
        if 0 < frac < 0.5:
            out.append(BoardWarning(code="low_completeness", message=(
                f"Only {frac:.0%} of the {m} features the model uses were given; the model "
                "fills the rest with training medians.")))
    return out


def follow_up_warnings(follow_up: dict[str, float],
                       months: tuple[float, ...] = CURVE_MONTHS) -> list[BoardWarning]:
    """A warning per end point whose curve stops before ``months`` end: survival past the
    model's training follow-up is null, not extrapolated (``Bundle.follow_up``)."""
    out = []
    for end, limit in sorted(follow_up.items()):
        if max(months) > limit:
            out.append(BoardWarning(code="beyond_follow_up", message=(
                f"{end.upper()} is not estimated past {limit:.0f} months: the training "
                "follow-up ends there, so the curve and median stop at it.")))
    return out


def board_score(record: PatientRecord, frame_row: pd.Series, out_row: pd.Series,
                model: BoardModel, *, top_k: int = 5) -> BoardScore:
    """Assemble a :class:`BoardScore` from one record, its model input row and output row."""
    p = _f(out_row.get("response_probability"))
    lo, hi = _f(out_row.get("response_ci_low")), _f(out_row.get("response_ci_high"))
    per_100, meaning = response_meaning(p, lo, hi)
    model_missing = _missing_list(out_row.get("missing_modalities"))
    measure = getattr(model, "completeness", None)  # stand-ins may not measure it
    completeness = measure(frame_row) if measure is not None else None
    if completeness is None:  # a model without our builder: the record's own fields
        completeness = record.completeness()
    warnings = domain_warnings(record, frame_row, model.domain)
    warnings += modality_warnings(completeness, model_missing)
    bundle = getattr(model, "bundle", None)
    warnings += follow_up_warnings(bundle.follow_up if bundle is not None else {})
    return BoardScore(
        patient_id=record.patient_id,
        cancer_type=record.cancer_type,
        drug_class=record.resolved_drug_class(),
        response=ResponseEstimate(probability=p, ci_low=lo, ci_high=hi, per_100=per_100,
                                  meaning=meaning),
        os=survival_estimate(out_row, "os", CURVE_MONTHS),
        pfs=survival_estimate(out_row, "pfs", CURVE_MONTHS),
        risk=risk_group(_f(out_row.get("risk_score")), model.risk_groups),
        reasons=top_reasons(out_row, frame_row, k=top_k),
        warnings=warnings,
        completeness={k: round(v, 3) for k, v in completeness.items()},
        missing_modalities=sorted(set(model_missing)),
        model=model.info,
        scored_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


# ------------------------------------------------------------------------------ public API


def _as_record(patient: PatientRecord | dict[str, Any] | str | Path) -> PatientRecord:
    return patient if isinstance(patient, PatientRecord) else parse_record(patient)


class UnknownPatientError(CohortError):
    """A patient ID that is not in the cohort store (HTTP 404, CLI exit status 2)."""


def _is_patient_id(patient: Any) -> bool:
    """A bare string that is neither JSON text nor a (possibly missing) JSON file: an ID."""
    if not isinstance(patient, str):
        return False
    text = patient.strip()
    return (bool(text) and not text.startswith("{") and not text.lower().endswith(".json")
            and not Path(text).is_file())


def score(patient: PatientRecord | dict[str, Any] | str | Path, model: str = DEFAULT_MODEL, *,
          store: str | Path | None = None, explain: bool = True, top_k: int = 5,
          cache_dir: str | Path | None = None, image_dir: str | Path | None = None,
          image_root: str | Path | None = None) -> BoardScore:
    """Score one patient for the board.

    Parameters
    ----------
    patient
        A :class:`PatientRecord`, its dict, JSON text or a path to a JSON file; or, with
        ``store``, a pseudonymous patient ID of the cohort store (see :func:`score_stored`).
    model
        Registry URI (default the champion) or a local pyfunc model folder.
    store
        Cohort store file that patient IDs are read from.
    explain
        Ask the model for per-feature contributions (the reasons).
    top_k
        Number of reasons.
    cache_dir
        Radiomics feature cache (see :func:`icipredict.predict.radiomics.cache_dir`).
    image_dir
        Folder that relative image/mask paths of the record are relative to (default: the
        working directory).
    image_root
        When given, image/mask files are read only under this folder (the service's rule).

    Returns
    -------
    BoardScore

    Raises
    ------
    RecordError
        When the record is invalid, or its image/mask files cannot be used (every problem
        listed).
    UnknownPatientError
        When a patient ID is not in the store.
    """
    if store is not None and _is_patient_id(patient):
        return score_stored(str(patient).strip(), store, model, explain=explain, top_k=top_k,
                            cache_dir=cache_dir)
    record = _as_record(patient)
    bm = load_board_model(model)
    problems: list[str] = []
    if record.images:
        from icipredict.predict.radiomics import model_radiomics, with_image_radiomics

        # The model's own settings and rule: other settings give other numbers per image.
        engine, rule, problems = model_radiomics(getattr(bm, "radiomics", None))
        record = with_image_radiomics([record], cache=cache_dir, engine=engine, rule=rule,
                                      base_dir=image_dir if image_dir is not None else image_root,
                                      allowed_root=image_root)[0]
    frame = record_frame(record)
    out = bm.predict(frame, horizons=list(CURVE_MONTHS), explain=explain)
    s = board_score(record, frame.iloc[0], out.iloc[0], bm, top_k=top_k)
    s.warnings += settings_warnings(problems)
    return s


def settings_warnings(problems: list[str]) -> list[BoardWarning]:
    """Board warnings for radiomics computed differently from training
    (:func:`icipredict.predict.radiomics.model_radiomics`)."""
    return [BoardWarning(code="radiomics_settings_mismatch", message=m) for m in problems]


def stored_patient(store: str | Path, patient_id: str, *, cache_dir: str | Path | None = None,
                   radiomics: dict[str, Any] | None = None
                   ) -> tuple[PatientRecord, pd.DataFrame, int]:
    """One stored patient as the model input row (built as training built it) and a record.

    The row is :func:`icipredict.features.builder.patient_frame` of the patient's tables
    (patients, labs, treatments, first sample with its mutations and panel genes: TMB and gene
    flags as in training) joined with its radiomics (stored rows, precomputed tables and images,
    :func:`icipredict.predict.radiomics.imaging_radiomics`). The record holds the same values
    (for completeness and domain warnings). ``radiomics`` is the model's ``radiomics.json``
    (:attr:`BoardModel.radiomics`; None: the training defaults).

    Returns
    -------
    (record, frame, n_image_errors)
        ``frame`` has one row (index ``patient_id``); ``n_image_errors`` counts stored lesions
        whose files could not be read (their features are missing).

    Raises
    ------
    UnknownPatientError
        When the ID is not in the store.
    """
    record, frame, n_errors, _ = _stored_patient(store, patient_id, cache_dir=cache_dir,
                                                 radiomics=radiomics)
    return record, frame, n_errors


def _stored_patient(store: str | Path, patient_id: str, *, cache_dir: str | Path | None,
                    radiomics: dict[str, Any] | None
                    ) -> tuple[PatientRecord, pd.DataFrame, int, list[str]]:
    """:func:`stored_patient` plus the radiomics-settings problems (when images were read)."""
    from icipredict.predict.record import stored_record

    rows = _stored_rows(store, [patient_id], cache_dir=cache_dir, radiomics=radiomics)
    if rows.cohort.patients.empty:
        raise UnknownPatientError(f"patient {patient_id!r} is not in the cohort store "
                                  "(IDs are the store's pseudonyms, e.g. P-1a2b...)",
                                  file=store, column="patient_id")
    record = stored_record(rows.cohort, patient_id, rows.radiomics)
    return record, rows.frame, rows.image_errors.get(patient_id, 0), rows.problems


@dataclass
class _StoredRows:
    """Stored patients as training built them: cohort tables, radiomics and model input."""

    cohort: Any
    radiomics: pd.DataFrame
    frame: pd.DataFrame
    image_errors: dict[str, int]  # unreadable stored lesions per patient
    problems: list[str]  # radiomics-settings problems (only when images were read)


def _stored_rows(store: str | Path, patient_ids: list[str], *, cache_dir: str | Path | None,
                 radiomics: dict[str, Any] | None, n_jobs: int = 1) -> _StoredRows:
    """One store query for ``patient_ids``: tables, radiomics with the model's settings and
    the model input frame (:func:`icipredict.features.builder.patient_frame`)."""
    from icipredict.cohort.store import CohortStore
    from icipredict.features.builder import patient_frame
    from icipredict.predict.radiomics import imaging_radiomics, model_radiomics

    cohort = CohortStore(store).cohort(patient_ids=patient_ids)
    engine, rule, problems = model_radiomics(radiomics)
    rad, errors = imaging_radiomics(cohort.imaging, cohort.radiomics, cache=cache_dir,
                                    engine=engine, rule=rule,
                                    n_jobs=n_jobs if len(patient_ids) > 1 else 1)
    if len(errors):
        # Never log the error rows: image paths can carry source IDs.
        logger.warning("radiomics failed for %d stored lesion(s)", len(errors))
    counts = ({str(k): int(v) for k, v in errors["patient_id"].value_counts().items()}
              if len(errors) else {})
    return _StoredRows(cohort=cohort, radiomics=rad, frame=patient_frame(cohort, rad),
                       image_errors=counts,
                       # nothing computed: the settings did not matter
                       problems=problems if len(cohort.imaging) else [])


def _stored_score(rows: _StoredRows, patient_id: str, out_row: pd.Series, bm: BoardModel, *,
                  top_k: int) -> BoardScore:
    """The board score of one patient of a store query (``out_row``: its model output)."""
    from icipredict.predict.record import stored_record

    record = stored_record(rows.cohort, patient_id, rows.radiomics)
    s = board_score(record, rows.frame.loc[patient_id], out_row, bm, top_k=top_k)
    if rows.problems and rows.cohort.imaging["patient_id"].eq(patient_id).any():
        s.warnings += settings_warnings(rows.problems)
    n_errors = rows.image_errors.get(patient_id, 0)
    if n_errors:
        s.warnings.append(BoardWarning(code="imaging_unreadable", message=(
            f"{n_errors} stored lesion image(s) of this patient could not be read; their "
            "radiomics are missing.")))
    return s


def score_stored(patient_id: str, store: str | Path, model: str = DEFAULT_MODEL, *,
                 explain: bool = True, top_k: int = 5,
                 cache_dir: str | Path | None = None) -> BoardScore:
    """Score a patient of the cohort store by its (pseudonymous) ID.

    Gives the same score as the equivalent record (same clinical values, mutation list and
    radiomics), with the features built exactly as in training (:func:`stored_patient`).

    Parameters
    ----------
    patient_id
        The store's patient ID.
    store
        Cohort store file.
    model, explain, top_k, cache_dir
        As for :func:`score`.

    Returns
    -------
    BoardScore

    Raises
    ------
    UnknownPatientError
        When the ID is not in the store.
    """
    bm = load_board_model(model)
    rows = _stored_rows(store, [patient_id], cache_dir=cache_dir,
                        radiomics=getattr(bm, "radiomics", None))
    if rows.cohort.patients.empty:
        raise UnknownPatientError(f"patient {patient_id!r} is not in the cohort store "
                                  "(IDs are the store's pseudonyms, e.g. P-1a2b...)",
                                  file=store, column="patient_id")
    out = bm.predict(rows.frame, horizons=list(CURVE_MONTHS), explain=explain)
    return _stored_score(rows, patient_id, out.iloc[0], bm, top_k=top_k)


@dataclass
class StoreQuery:
    """Which stored patients a weekly list holds (see :meth:`CohortStore.find_patients`).

    Every given condition must hold; none given: every stored patient.
    """

    patient_ids: list[str] | None = None
    centres: list[str] | None = None
    cancer_types: list[str] | None = None
    started_from: str | None = None
    started_to: str | None = None
    without_outcome: bool = False


def score_store_list(store: str | Path, query: StoreQuery | None = None,
                     model: str = DEFAULT_MODEL, *, explain: bool = True, top_k: int = 3,
                     sort_by: str = "response", cache_dir: str | Path | None = None
                     ) -> list[BoardScore]:
    """Score a weekly list given as a store query: the same board scores as :func:`score_batch`.

    Each patient gets exactly what :func:`score_stored` gives them (features, reasons,
    warnings), from one query and one vectorised model call for the whole list.

    Parameters
    ----------
    store
        Cohort store file.
    query
        The patients (IDs, centres, cancer types, ICI start window, no outcome yet).
    model, explain, top_k, sort_by, cache_dir
        As for :func:`score_batch`.

    Returns
    -------
    list of BoardScore
        Sorted for the board; empty when no stored patient matches.

    Raises
    ------
    CohortError
        For an unknown centre or patient ID, or a malformed date.
    """
    from icipredict.cohort.store import CohortStore

    query = query or StoreQuery()
    ids = CohortStore(store).find_patients(
        patient_ids=query.patient_ids, centres=query.centres, cancer_types=query.cancer_types,
        started_from=query.started_from, started_to=query.started_to,
        without_outcome=query.without_outcome)
    if not ids:
        return []
    bm = load_board_model(model)
    rows = _stored_rows(store, ids, cache_dir=cache_dir, radiomics=getattr(bm, "radiomics", None),
                        n_jobs=2)
    frame = rows.frame.loc[ids]
    out = bm.predict(frame, horizons=list(CURVE_MONTHS), explain=explain)
    # Positional: a registry model's output need not keep the input's index.
    return sort_scores([_stored_score(rows, pid, out.iloc[i], bm, top_k=top_k)
                        for i, pid in enumerate(ids)], sort_by)


def score_batch(patients: Sequence[PatientRecord | dict[str, Any]] | str | Path,
                model: str = DEFAULT_MODEL, *, explain: bool = True, top_k: int = 3,
                sort_by: str = "response", cache_dir: str | Path | None = None,
                image_dir: str | Path | None = None,
                image_root: str | Path | None = None) -> list[BoardScore]:
    """Score a weekly list: records, a CSV/JSON list file; sorted for the board.

    Parameters
    ----------
    patients
        Records (or dicts), or a path to a CSV (one row per patient) or JSON list.
    model
        Registry URI.
    explain, top_k
        As for :func:`score`.
    sort_by
        ``"response"`` (highest probability first) or ``"risk"`` (highest risk first).
    cache_dir, image_dir, image_root
        As for :func:`score` (records with image + mask files).

    Returns
    -------
    list of BoardScore
    """
    source = None
    items: Sequence[PatientRecord | dict[str, Any]]
    if isinstance(patients, (str, Path)):
        source = str(patients)
        items = read_record_list(patients)
    else:
        items = patients
    dicts = [p for p in items if not isinstance(p, PatientRecord)]
    parsed = iter(parse_records(dicts, source=source) if dicts else [])
    records = [p if isinstance(p, PatientRecord) else next(parsed) for p in items]
    for i, r in enumerate(records, start=1):  # a list needs distinct row keys
        if r.patient_id is None:
            records[i - 1] = r.model_copy(update={"patient_id": f"row-{i}"})
    if not records:
        return []
    bm = load_board_model(model)
    problems: list[str] = []
    imaged = [bool(r.images) for r in records]
    if any(imaged):
        from icipredict.predict.radiomics import model_radiomics, with_image_radiomics

        engine, rule, problems = model_radiomics(getattr(bm, "radiomics", None))
        records = with_image_radiomics(
            records, labels=[f"record {i} ({r.patient_id})" for i, r in enumerate(records, 1)],
            cache=cache_dir, engine=engine, rule=rule,
            base_dir=image_dir if image_dir is not None else image_root,
            allowed_root=image_root, source=source)
    frame = record_frame(records)
    out = bm.predict(frame, horizons=list(CURVE_MONTHS), explain=explain)
    scores = [board_score(r, frame.iloc[i], out.iloc[i], bm, top_k=top_k)
              for i, r in enumerate(records)]
    for s, has_images in zip(scores, imaged, strict=True):
        if has_images:
            s.warnings += settings_warnings(problems)
    return sort_scores(scores, sort_by)


def sort_scores(scores: list[BoardScore], sort_by: str = "response") -> list[BoardScore]:
    """Sort for the board: highest response probability (or risk) first, unknowns last."""
    if sort_by not in ("response", "risk"):
        raise ValueError(f"sort_by must be 'response' or 'risk', got {sort_by!r}")

    def key(s: BoardScore) -> tuple[bool, float]:
        v = s.response.probability if sort_by == "response" else s.risk.score
        return (v is None, -(v or 0.0))

    return sorted(scores, key=key)


def score_store(store: str | Path, patient_ids: list[str] | None = None, *,
                centres: list[str] | None = None, model: str = DEFAULT_MODEL,
                sort_by: str = "response", cache_dir: str | Path | None = None,
                query: StoreQuery | None = None) -> pd.DataFrame:
    """Score stored patients as a table (a store query); one sorted row per patient.

    Returns the registry output columns with ``patient_id`` and ``risk_group``; no reasons and
    no warnings (for whole cohorts; :func:`score_store_list` gives the board's scores).
    ``patient_ids`` and ``centres`` narrow ``query``.
    """
    from icipredict.cohort.store import CohortStore

    query = query or StoreQuery()
    ids = CohortStore(store).find_patients(
        patient_ids=patient_ids if patient_ids is not None else query.patient_ids,
        centres=centres if centres is not None else query.centres,
        cancer_types=query.cancer_types, started_from=query.started_from,
        started_to=query.started_to, without_outcome=query.without_outcome)
    bm = load_board_model(model)
    rows = _stored_rows(store, ids, cache_dir=cache_dir, radiomics=getattr(bm, "radiomics", None),
                        n_jobs=2)
    for m in rows.problems:
        logger.warning("radiomics_settings_mismatch: %s", m)
    frame = rows.frame.loc[ids]
    out = bm.predict(frame, horizons=list(REPORT_MONTHS), explain=False).reset_index(drop=True)
    out.insert(0, "patient_id", frame.index.to_numpy())
    out["risk_group"] = [risk_group(_f(s), bm.risk_groups).group for s in out["risk_score"]]
    col = "response_probability" if sort_by == "response" else "risk_score"
    return out.sort_values(col, ascending=False, na_position="last").reset_index(drop=True)


def scores_table(scores: list[BoardScore]) -> pd.DataFrame:
    """The weekly list as a flat table (one row per patient, the board's columns).

    Warnings are counted (``n_warnings``) and named by code (``warning_codes``: codes are
    ``[a-z0-9_]`` identifiers, joined by ``|``); their messages, which contain ``;`` and ``,``,
    are one row each in :func:`icipredict.predict.report.warnings_table`.
    """
    rows = []
    for rank, s in enumerate(scores, start=1):
        rows.append({
            "rank": rank, "patient_id": s.patient_id, "cancer_type": s.cancer_type,
            "drug_class": s.drug_class,
            "response_probability": s.response.probability,
            "response_ci_low": s.response.ci_low, "response_ci_high": s.response.ci_high,
            "risk_score": s.risk.score, "risk_group": s.risk.group,
            "os_12m": s.os.at_12m.survival if s.os.at_12m else None,
            "os_24m": s.os.at_24m.survival if s.os.at_24m else None,
            "median_os_months": s.os.median_months,
            "pfs_12m": s.pfs.at_12m.survival if s.pfs.at_12m else None,
            "median_pfs_months": s.pfs.median_months,
            "top_reasons": "; ".join(r.text for r in s.reasons),
            "n_warnings": len(s.warnings),
            "warning_codes": "|".join(_code(w.code) for w in s.warnings),
            "model": f"{s.model.name}@{s.model.alias or s.model.version}",
            "model_version": s.model.version,
        })
    return pd.DataFrame(rows)


def _code(code: str) -> str:
    """A warning code, checked to hold no ``|`` or other separator (see scores_table)."""
    if not re.fullmatch(r"[a-z0-9_]+", code):
        raise ValueError(f"warning code {code!r} is not a [a-z0-9_] identifier")
    return code
