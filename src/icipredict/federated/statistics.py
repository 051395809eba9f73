"""Federated feature statistics: the builder state from centres' counts and sums.

From per-centre category counts (cells under the minimum count suppressed at the node), column
moments (count, sum, sum of squares) and two-level histograms, the coordinator derives what
:meth:`FeatureBuilder.fit` learns on pooled rows:

- cancer-type levels and the ``other`` column, drug-class levels: exact on the counts the
  centres share (a level seen fewer than the minimum count times in every centre is unknown);
- means and standard deviations: exact (from sums and sums of squares);
- medians: a quantile sketch: counts below 64 edges spanning [mean - sd, mean + sd] (where
  every median lies), then below 64 sub-edges of the bin(s) holding the middle value(s); each is
  placed at its sub-bin's midpoint (error below sd / 2048 away from the tails, where a centre sends
  counts under the minimum as 0 and counts within it of its total as the total).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Bins per histogram level.
BINS = 64


def levels(hellos: dict[str, dict[str, Any]], spec: Any) -> dict[str, Any]:
    """Cancer-type and drug-class levels and imaging columns from the centres' hello replies."""
    cancer: dict[str, float] = {}
    drug: dict[str, float] = {}
    radiomics: set[str] = set()
    suppressed = 0
    for reply in hellos.values():
        for lvl, c in reply["categories"].get("cancer_type", {}).items():
            cancer[lvl] = cancer.get(lvl, 0.0) + c
        for lvl, c in reply["categories"].get("drug_class", {}).items():
            drug[lvl] = drug.get(lvl, 0.0) + c
        radiomics.update(reply.get("radiomics_columns", []))
        suppressed += reply.get("suppressed_cells", 0)
    state: dict[str, Any] = {"cancer_levels": [], "cancer_has_other": False,
                             "drug_class_levels": [], "imaging_columns": []}
    if "clinical" in spec.modalities and spec.cancer_type == "onehot":
        state["cancer_levels"] = sorted(k for k, c in cancer.items()
                                        if c >= spec.rare_type_min_count)
        state["cancer_has_other"] = bool(suppressed or any(
            c < spec.rare_type_min_count for c in cancer.values()))
    if "clinical" in spec.modalities and "drug_class" in spec.clinical:
        state["drug_class_levels"] = sorted(drug)
    if "imaging" in spec.modalities:
        state["imaging_columns"] = (list(spec.imaging) if spec.imaging is not None
                                    else sorted(radiomics))
    return state


def merged_categories(hellos: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Column -> level -> summed count over the centres (each centre's small cells already
    suppressed): the categories of the registry bundle's training domain."""
    out: dict[str, dict[str, float]] = {}
    for reply in hellos.values():
        for col, counts in reply["categories"].items():
            for lvl, c in counts.items():
                out.setdefault(col, {})[lvl] = out.get(col, {}).get(lvl, 0.0) + c
    return {col: dict(sorted(v.items())) for col, v in out.items()}


def merge_moments(replies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Column-wise totals of the centres' moments: ``columns``, ``n``, ``sum``, ``sumsq``,
    ``rows`` (patients), ``mean``, ``sd`` (population, of observed values)."""
    first = next(iter(replies.values()))
    columns = first["columns"]
    n = sum(np.asarray(r["n"], float) for r in replies.values())
    s = sum(np.asarray(r["sum"], float) for r in replies.values())
    ss = sum(np.asarray(r["sumsq"], float) for r in replies.values())
    rows = float(sum(r["n_rows"] for r in replies.values()))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / np.maximum(n, 1), np.nan)
        var = np.where(n > 0, ss / np.maximum(n, 1) - mean ** 2, np.nan)
    return {"columns": columns, "n": n, "sum": s, "sumsq": ss, "rows": rows, "mean": mean,
            "sd": np.sqrt(np.maximum(var, 0.0))}


def first_edges(moments: dict[str, Any]) -> dict[str, list[float]]:
    """Level-1 edges: [mean - sd, mean + sd] of every column with spread (every median lies
    there)."""
    out = {}
    for j, c in enumerate(moments["columns"]):
        if moments["n"][j] > 0 and moments["sd"][j] > 0:
            m, sd = moments["mean"][j], moments["sd"][j]
            out[c] = np.linspace(m - sd, m + sd, BINS + 1).tolist()
    return out


def merged_below(replies: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """Column -> summed counts below each edge."""
    out: dict[str, np.ndarray] = {}
    for r in replies.values():
        for c, row in zip(r["columns"], r["below"], strict=True):
            out[c] = out.get(c, 0) + np.asarray(row, float)
    return out


def _bin_of(below: np.ndarray, rank: float) -> int | None:
    """Index ``k`` of the bin [edge k-1, edge k) holding the ``rank``-th smallest value."""
    k = int(np.searchsorted(below, rank, side="left"))
    return k if 0 < k < len(below) else None


def _ranks(moments: dict[str, Any], c: str) -> tuple[float, float]:
    """Ranks of the middle value(s): pandas' median of an even N averages two."""
    n = moments["n"][moments["columns"].index(c)]
    return ((n + 1) / 2, (n + 1) / 2) if n % 2 else (n / 2, n / 2 + 1)


def refine_edges(moments: dict[str, Any], edges: dict[str, list[float]],
                 below: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Level-2 edges: 64 sub-bins of the bin(s) holding the middle value(s)."""
    out = {}
    for c, e in edges.items():
        bins = sorted({k for r in _ranks(moments, c) if (k := _bin_of(below[c], r)) is not None})
        if bins:
            out[c] = [x for k in bins for x in np.linspace(e[k - 1], e[k], BINS + 1)]
    return out


def medians(moments: dict[str, Any], edges2: dict[str, list[float]],
            below2: dict[str, np.ndarray]) -> dict[str, float]:
    """Column -> median: the middle value(s) located to their level-2 bins' midpoints (the
    mean for constant columns or when a tail count hid the middle)."""
    out: dict[str, float] = {}
    for j, c in enumerate(moments["columns"]):
        if moments["n"][j] == 0:
            continue
        out[c] = float(moments["mean"][j])
        if c in edges2:
            e = edges2[c]
            found = [_bin_of(below2[c], r) for r in _ranks(moments, c)]
            ks = [k for k in found if k is not None]
            if len(ks) == len(found) and all(e[k] > e[k - 1] for k in ks):
                out[c] = float(np.mean([(e[k - 1] + e[k]) / 2 for k in ks]))
    return out


def scaling(moments: dict[str, Any], meds: dict[str, float], imputed: bool
            ) -> tuple[dict[str, float | None], dict[str, float]]:
    """Means and population SDs as the builder computes them (after imputation if any)."""
    means: dict[str, float | None] = {}
    scales: dict[str, float] = {}
    for j, c in enumerate(moments["columns"]):
        n, s, ss = moments["n"][j], moments["sum"][j], moments["sumsq"][j]
        if imputed and c in meds:
            extra = moments["rows"] - n
            n, s, ss = moments["rows"], s + extra * meds[c], ss + extra * meds[c] ** 2
        if n == 0:
            means[c], scales[c] = None, 1.0
            continue
        mean = s / n
        sd = float(np.sqrt(max(ss / n - mean ** 2, 0.0)))
        means[c], scales[c] = float(mean), (sd if sd > 0 else 1.0)
    return means, scales
