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

The code lives in :mod:`icipredict.predict.scoring` (one job per module); this module re-exports
every name, so ``from icipredict.predict.scorer import ...`` keeps working.
"""

from __future__ import annotations

import logging

# The private helpers (noqa: F401) are re-exported on purpose: other modules and tests use them.
from icipredict.predict.scoring.assemble import (
    _horizon_col,  # noqa: F401
    board_score,
    response_meaning,
    risk_group,
    survival_estimate,
)
from icipredict.predict.scoring.batch import score_batch, sort_scores
from icipredict.predict.scoring.board_warnings import (
    _fmt,  # noqa: F401
    _missing_list,  # noqa: F401
    domain_warnings,
    follow_up_warnings,
    modality_warnings,
    settings_warnings,
)
from icipredict.predict.scoring.loader import (
    _CACHE,  # noqa: F401
    _LOCK,  # noqa: F401
    BoardModel,
    _parse_models_uri,  # noqa: F401
    clear_model_cache,
    load_board_model,
)
from icipredict.predict.scoring.result import (
    CURVE_MONTHS,
    DEFAULT_MODEL,
    INTENDED_USE,
    REPORT_MONTHS,
    SCORE_SCHEMA_VERSION,
    BoardScore,
    BoardWarning,
    ModelInfo,
    ResponseEstimate,
    RiskGroup,
    SurvivalEstimate,
    SurvivalPoint,
    finite,
)
from icipredict.predict.scoring.single import (
    _as_record,  # noqa: F401
    _is_patient_id,  # noqa: F401
    score,
)
from icipredict.predict.scoring.stored import (
    StoreQuery,
    UnknownPatientError,
    _stored_patient,  # noqa: F401
    _stored_rows,  # noqa: F401
    _stored_score,  # noqa: F401
    _StoredRows,  # noqa: F401
    score_store,
    score_store_list,
    score_stored,
    stored_patient,
)
from icipredict.predict.scoring.table import _code, scores_table  # noqa: F401

#: The logger of the scoring modules (they log under this module's name).
logger = logging.getLogger(__name__)

__all__ = [
    "CURVE_MONTHS",
    "DEFAULT_MODEL",
    "INTENDED_USE",
    "REPORT_MONTHS",
    "SCORE_SCHEMA_VERSION",
    "BoardModel",
    "BoardScore",
    "BoardWarning",
    "ModelInfo",
    "ResponseEstimate",
    "RiskGroup",
    "StoreQuery",
    "SurvivalEstimate",
    "SurvivalPoint",
    "UnknownPatientError",
    "board_score",
    "clear_model_cache",
    "domain_warnings",
    "finite",
    "follow_up_warnings",
    "load_board_model",
    "modality_warnings",
    "response_meaning",
    "risk_group",
    "score",
    "score_batch",
    "score_store",
    "score_store_list",
    "score_stored",
    "scores_table",
    "settings_warnings",
    "sort_scores",
    "stored_patient",
    "survival_estimate",
]

