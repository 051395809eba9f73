"""Score one patient for the board: a record (with its images) or a stored patient's ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from icipredict.predict.record import PatientRecord, parse_record, record_frame
from icipredict.predict.scoring import loader
from icipredict.predict.scoring.assemble import board_score
from icipredict.predict.scoring.board_warnings import settings_warnings
from icipredict.predict.scoring.result import CURVE_MONTHS, DEFAULT_MODEL, BoardScore
from icipredict.predict.scoring.stored import score_stored


def _as_record(patient: PatientRecord | dict[str, Any] | str | Path) -> PatientRecord:
    return patient if isinstance(patient, PatientRecord) else parse_record(patient)


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
    bm = loader.load_board_model(model)
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
