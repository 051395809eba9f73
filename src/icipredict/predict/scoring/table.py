"""The weekly list as a flat table (one row per patient, the board's columns)."""

from __future__ import annotations

import re

import pandas as pd

from icipredict.predict.scoring.result import BoardScore


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
