"""Second hit (biallelic status) of pathogenic BRCA1/2 variants.

For each pathogenic or likely pathogenic variant (somatic or germline), in its tumour sample:

=========================  ===================  =================================================
evidence                   ``second_hit``       ``allelic_status``
=========================  ===================  =================================================
deep deletion (CNA -2)     ``cna_deep_deletion``  ``biallelic`` (also a registry row on its own)
shallow deletion (CNA -1)  ``cna_loss``         ``biallelic`` (loss of the other allele)
LOH call of the gene       ``loh``              ``biallelic`` (``loh`` table, when a centre gives it)
another P/LP variant,      ``second_variant``   ``biallelic`` (phase unknown: trans assumed)
same gene and sample
CNA profiled, no loss,     ``none_seen``        ``monoallelic``
no LOH, no 2nd variant
no CNA/LOH data            ``unknown``          ``unknown``
=========================  ===================  =================================================

Limits: GISTIC discrete calls do not see copy-neutral LOH, so ``monoallelic`` means "no loss
seen in the copy-number calls"; two variants in one gene may lie on the same allele (cis).
The store keeps no allele-specific copy number or LOH calls yet: an ``loh`` table (columns
``centre, sample_id, hugo_symbol, loh`` 0/1) is used when given to :func:`second_hits`.
"""

from __future__ import annotations

import pandas as pd

from icipredict.cohort.brca.classify import BRCA_GENES, classify_cna

P_LP = ("pathogenic", "likely_pathogenic")

_ORDER = ("cna_deep_deletion", "cna_loss", "loh", "second_variant")


def deep_deletion_rows(cna: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Registry rows of BRCA1/2 deep deletions (one per sample and gene)."""
    if cna is None or cna.empty:
        return pd.DataFrame()
    c = cna[cna["hugo_symbol"].astype(str).str.upper().isin(BRCA_GENES)]
    calls = [classify_cna(v) for v in c["cna"]]
    keep = [x is not None for x in calls]
    c = c[keep]
    if c.empty:
        return pd.DataFrame()
    out = c.merge(samples[["centre", "sample_id", "patient_id"]], on=["centre", "sample_id"],
                  how="inner")
    return pd.DataFrame({
        "centre": out["centre"], "patient_id": out["patient_id"], "sample_id": out["sample_id"],
        "gene": out["hugo_symbol"].str.upper(), "hgvsp_short": None,
        "variant_classification": "CNA_Deep_Deletion", "vaf": float("nan"),
        "classification": "pathogenic", "rule": "cna_deep_deletion", "origin": "somatic",
        "germline_follow_up": False, "kb_source": None})


def second_hits(variants: pd.DataFrame, cna: pd.DataFrame | None = None,
                loh: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``second_hit`` and ``allelic_status`` to classified registry rows.

    Parameters
    ----------
    variants
        Registry rows (``centre, sample_id, gene, classification, variant_classification``).
    cna
        The ``cna`` table (``centre, sample_id, hugo_symbol, cna``); None: no CNA data.
    loh
        Optional LOH calls (``centre, sample_id, hugo_symbol, loh`` 1 = LOH).
    """
    out = variants.copy()
    if out.empty:
        out["second_hit"] = pd.Series(dtype=object)
        out["allelic_status"] = pd.Series(dtype=object)
        return out
    cn = _lookup(cna, "cna")
    lo = _lookup(loh, "loh")
    plp = out["classification"].isin(P_LP) & (out["variant_classification"]
                                              != "CNA_Deep_Deletion")
    n_plp = out[plp].groupby(["centre", "sample_id", "gene"]).size()
    hits: list[str | None] = []
    status: list[str | None] = []
    for i, row in out.iterrows():
        key = (row["centre"], row["sample_id"], row["gene"])
        if row["variant_classification"] == "CNA_Deep_Deletion":
            hits.append("cna_deep_deletion")
            status.append("biallelic")
            continue
        if not plp[i]:
            hits.append(None)
            status.append(None)
            continue
        copy = cn.get(key)
        found = []
        if copy is not None and copy <= -2:
            found.append("cna_deep_deletion")
        elif copy is not None and copy == -1:
            found.append("cna_loss")
        if lo.get(key) == 1:
            found.append("loh")
        if n_plp.get(key, 0) >= 2:
            found.append("second_variant")
        if found:
            hits.append(min(found, key=_ORDER.index))
            status.append("biallelic")
        elif copy is not None or lo.get(key) == 0:
            hits.append("none_seen")
            status.append("monoallelic")
        else:
            hits.append("unknown")
            status.append("unknown")
    out["second_hit"] = hits
    out["allelic_status"] = status
    return out


def _lookup(table: pd.DataFrame | None, column: str) -> dict[tuple, int]:
    """``(centre, sample_id, GENE) -> value`` of a per-sample gene table."""
    if table is None or table.empty or column not in table.columns:
        return {}
    t = table.dropna(subset=[column])
    return {(c, s, str(g).upper()): int(v) for c, s, g, v in
            zip(t["centre"], t["sample_id"], t["hugo_symbol"], t[column], strict=True)}
