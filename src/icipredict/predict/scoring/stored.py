"""Score patients of the cohort store: one by ID, a weekly list as a store query, or a whole
query as a table; the model input built exactly as in training."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from icipredict._util import finite_float as _f
from icipredict.cohort.schema import CohortError
from icipredict.predict.record import PatientRecord
from icipredict.predict.scoring import loader
from icipredict.predict.scoring.assemble import board_score, risk_group
from icipredict.predict.scoring.batch import sort_scores
from icipredict.predict.scoring.board_warnings import settings_warnings
from icipredict.predict.scoring.loader import BoardModel
from icipredict.predict.scoring.result import (
    CURVE_MONTHS,
    DEFAULT_MODEL,
    REPORT_MONTHS,
    BoardScore,
    BoardWarning,
)

logger = logging.getLogger("icipredict.predict.scorer")  # the name it always logged under


class UnknownPatientError(CohortError):
    """A patient ID that is not in the cohort store (HTTP 404, CLI exit status 2)."""


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
    bm = loader.load_board_model(model)
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
    bm = loader.load_board_model(model)
    rows = _stored_rows(store, ids, cache_dir=cache_dir, radiomics=getattr(bm, "radiomics", None),
                        n_jobs=2)
    frame = rows.frame.loc[ids]
    out = bm.predict(frame, horizons=list(CURVE_MONTHS), explain=explain)
    # Positional: a registry model's output need not keep the input's index.
    return sort_scores([_stored_score(rows, pid, out.iloc[i], bm, top_k=top_k)
                        for i, pid in enumerate(ids)], sort_by)


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
    bm = loader.load_board_model(model)
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
