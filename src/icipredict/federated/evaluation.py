"""Federated evaluation: each centre counts its own concordant pairs; the coordinator adds them.

A centre's AUC is the Mann–Whitney count over its own responder/non-responder pairs, its
Harrell C the concordant pairs among its own comparable pairs (scikit-survival's
``concordance_index_censored``). Pairs never cross centres: the pooled figure is the
within-centre one (``sum concordant / sum pairs``), as the demo's "pairs within a centre" C.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata


def local_counts(kind: str, score: np.ndarray, y: np.ndarray, event: np.ndarray | None,
                 min_count: int) -> dict[str, Any]:
    """Pair counts of one centre (or ``{"suppressed": ...}`` when a class is too small).

    Parameters
    ----------
    kind
        ``logistic`` (AUC of ``score`` for 0/1 ``y``) or ``cox`` (Harrell C of the risk
        ``score`` for follow-up ``y`` and ``event``).
    min_count
        Fewer responders, non-responders or events than this: nothing is shared.
    """
    if kind == "logistic":
        n_pos = int(np.sum(y == 1))
        n_neg = int(np.sum(y == 0))
        if min(n_pos, n_neg) < min_count:
            return {"suppressed": "fewer than the minimum count in a class"}
        ranks = rankdata(score)
        concordant = float(ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2)  # ties count 1/2
        return {"pairs": float(n_pos * n_neg), "concordant": concordant}
    from sksurv.metrics import concordance_index_censored

    assert event is not None, "a Cox index needs the event indicator"
    events = int(np.sum(event))
    if events < min_count:
        return {"suppressed": "fewer events than the minimum count"}
    _, conc, disc, tied_risk, _ = concordance_index_censored(event.astype(bool), y, score)
    return {"pairs": float(conc + disc + tied_risk), "concordant": float(conc + 0.5 * tied_risk)}


def pooled_index(counts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per-centre index and the within-centre pooled index from :func:`local_counts`."""
    per = {c: (v["concordant"] / v["pairs"] if v.get("pairs") else None)
           for c, v in counts.items()}
    pairs = sum(v.get("pairs", 0.0) for v in counts.values())
    conc = sum(v.get("concordant", 0.0) for v in counts.values())
    return {"per_centre": per, "pooled_within_centre": conc / pairs if pairs else None,
            "pairs": pairs}
