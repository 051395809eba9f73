"""Score a weekly list of records (or a CSV/JSON list file) and sort it for the board."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from icipredict.predict.record import (
    PatientRecord,
    parse_records,
    read_record_list,
    record_frame,
)
from icipredict.predict.scoring import loader
from icipredict.predict.scoring.assemble import board_score
from icipredict.predict.scoring.board_warnings import settings_warnings
from icipredict.predict.scoring.result import CURVE_MONTHS, DEFAULT_MODEL, BoardScore


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
    bm = loader.load_board_model(model)
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
