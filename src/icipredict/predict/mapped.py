"""Score a list in a centre's own format (its file + column map), keeping its own IDs.

The rows go through the centre's column map (:mod:`icipredict.cohort.mapped`: units,
codings, validation with file/row/column errors), then exactly the path of a store query
(:func:`icipredict.predict.scorer.score_store_list`): the model input as training built it
(:func:`icipredict.features.builder.patient_frame`), one vectorised model call, one board score
per patient with reasons and warnings. The board scores carry the file's own patient IDs:
this output stays at the centre (it is never logged or sent to MLflow).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from icipredict.predict.scorer import (
    CURVE_MONTHS,
    DEFAULT_MODEL,
    BoardScore,
    _stored_score,
    _StoredRows,
    load_board_model,
    sort_scores,
)


def _cohort_rows(cohort: Any, bm: Any, cache_dir: str | Path | None) -> _StoredRows:
    """The cohort's model input and records, radiomics with the model's settings."""
    from icipredict.features.builder import patient_frame
    from icipredict.predict.radiomics import imaging_radiomics, model_radiomics

    engine, rule, problems = model_radiomics(getattr(bm, "radiomics", None))
    rad, errors = imaging_radiomics(cohort.imaging, cohort.radiomics, cache=cache_dir,
                                    engine=engine, rule=rule, n_jobs=1)
    counts = ({str(k): int(v) for k, v in errors["patient_id"].value_counts().items()}
              if len(errors) else {})
    return _StoredRows(cohort=cohort, radiomics=rad, frame=patient_frame(cohort, rad),
                       image_errors=counts, problems=problems if len(cohort.imaging) else [])


def score_cohort(cohort: Any, model: str = DEFAULT_MODEL, *, explain: bool = True,
                 top_k: int = 3, sort_by: str = "response",
                 cache_dir: str | Path | None = None) -> list[BoardScore]:
    """Board scores of every patient of a loaded (not stored) cohort, sorted for the board."""
    bm = load_board_model(model)
    rows = _cohort_rows(cohort, bm, cache_dir)
    ids = [str(i) for i in rows.frame.index]
    if not ids:
        return []
    out = bm.predict(rows.frame, horizons=list(CURVE_MONTHS), explain=explain)
    return sort_scores([_stored_score(rows, pid, out.iloc[i], bm, top_k=top_k)
                        for i, pid in enumerate(ids)], sort_by)


def score_mapped_file(file: str | Path, column_map: str | Path, model: str = DEFAULT_MODEL,
                      **kwargs: Any) -> list[BoardScore]:
    """Score ``file`` read through ``column_map`` (see :func:`score_cohort` for ``kwargs``)."""
    from icipredict.cohort.mapped import load_mapped_file

    return score_cohort(load_mapped_file(file, column_map), model, **kwargs)


def score_mapped_rows(rows: list[dict[str, Any]], column_map_yaml: str,
                      model: str = DEFAULT_MODEL, **kwargs: Any) -> list[BoardScore]:
    """Score rows in the centre's own columns with a column map given as YAML text."""
    from icipredict.cohort.mapped import load_mapped_rows

    with tempfile.TemporaryDirectory() as tmp:
        cohort = load_mapped_rows(rows, column_map_yaml, Path(tmp))
    return score_cohort(cohort, model, **kwargs)


__all__ = ["score_cohort", "score_mapped_file", "score_mapped_rows"]
