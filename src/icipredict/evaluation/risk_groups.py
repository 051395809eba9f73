"""The board's risk groups: tertile cut-points of a survival model's risk score.

The registry bundle stores them (``risk_groups.json``) and the board places a new patient's
``risk_score`` among them. Training takes them from the training patients' *out-of-fold* risk
scores (:func:`icipredict.training.pipeline.risk_group_cutpoints`): scores of patients the model
did not see, as the board's patient is (in-sample scores of a flexible model are spread wider).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: End point -> the words the board shows for it.
ENDPOINT_NAMES = {"os": "OS", "pfs": "PFS"}


def risk_tertiles(risk: np.ndarray, endpoint: str = "os", *,
                  source: str = "risk scores of the training patients") -> dict[str, Any]:
    """Tertile cut-points of ``risk`` for the board's low/intermediate/high.

    Parameters
    ----------
    risk
        Risk scores (higher = worse); non-finite values are ignored.
    endpoint
        ``"os"`` or ``"pfs"``: the end point of the model whose score ``risk`` is (the registry
        model's ``risk_score`` is the OS model's, else the PFS model's).
    source
        Which scores the cut-points come from (recorded with them).

    Returns
    -------
    dict
        ``score`` (what the score is), ``endpoint``, ``cut_points`` (two, or none without
        scores), ``labels``, ``rule`` and ``source``.
    """
    r = np.asarray(risk, dtype=float)
    r = r[np.isfinite(r)]
    cuts = np.quantile(r, [1 / 3, 2 / 3]).tolist() if r.size else []
    name = ENDPOINT_NAMES.get(endpoint, endpoint)
    return {"score": f"risk_score ({name} model; higher = worse)", "endpoint": endpoint,
            "cut_points": cuts, "labels": ["low", "intermediate", "high"],
            "rule": "low: risk < cut_points[0]; high: risk >= cut_points[1]", "source": source}


__all__ = ["ENDPOINT_NAMES", "risk_tertiles"]
