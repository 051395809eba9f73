"""Patients' BRCA class and the associated defects: HR co-alterations, TMB and MSI.

Patient class (somatic evidence only; germline carriers are listed apart and flagged by
``germline_carrier``):

- ``pathogenic_biallelic``: a pathogenic/likely pathogenic BRCA1/2 alteration with a second hit;
- ``pathogenic_mono_unknown``: a pathogenic/likely pathogenic one, monoallelic or unknown;
- ``vus``: only variants of unknown significance (benign ones do not count);
- ``none``: BRCA1/2 profiled (a sample whose panel covers them), nothing above;
- ``not_profiled``: no sequenced sample covering BRCA1/2: missing, never wild type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from icipredict.cohort.brca.classify import BRCA_GENES
from icipredict.cohort.cbioportal.cna import HR_GENES
from icipredict.cohort.store.sql import NONSYNONYMOUS

#: Smallest cell shown: counts of 1-4 patients are suppressed in every aggregate table.
MIN_CELL = 5
#: Patient classes in report order.
PATIENT_CLASSES = ("pathogenic_biallelic", "pathogenic_mono_unknown", "vus", "none")
#: HR genes other than BRCA1/2 examined for co-alterations.
CO_GENES = tuple(g for g in HR_GENES if g not in BRCA_GENES)


def _profiled(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``centre, patient_id`` of patients with a sample that covers BRCA1/2."""
    s = tables["samples"]
    panels = tables.get("panel_genes", pd.DataFrame(columns=["panel", "hugo_symbol"]))
    listed = set(panels["panel"]) if len(panels) else set()
    covering = set(panels.loc[panels["hugo_symbol"].astype(str).str.upper().isin(BRCA_GENES),
                              "panel"]) if len(panels) else set()
    seen = set()
    for name in ("mutations", "germline_mutations", "cna"):
        t = tables.get(name)
        if t is not None and len(t):
            seen |= set(zip(t["centre"], t["sample_id"], strict=True))
    has_panel = s["panel"].notna() if "panel" in s else pd.Series(False, index=s.index)
    sequenced = has_panel | pd.Series([(c, x) in seen for c, x in
                                       zip(s["centre"], s["sample_id"], strict=True)],
                                      index=s.index)
    covers = ~s.get("panel", pd.Series(index=s.index)).isin(listed - covering)
    return s.loc[sequenced & covers, ["centre", "patient_id"]].drop_duplicates()


def patient_classes(tables: dict[str, pd.DataFrame], somatic: pd.DataFrame,
                    germline: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per patient: ``centre, patient_id, brca_class, germline_carrier``."""
    p = tables["patients"][["centre", "patient_id"]].drop_duplicates()
    prof = _profiled(tables)
    prof_keys = set(zip(prof["centre"], prof["patient_id"], strict=True))
    rank: dict[tuple[object, object], int] = {}
    for r in somatic.itertuples():
        key = (r.centre, r.patient_id)
        if r.classification in ("pathogenic", "likely_pathogenic"):
            c = 0 if r.allelic_status == "biallelic" else 1
        elif r.classification == "vus":
            c = 2
        else:
            continue
        rank[key] = min(rank.get(key, 9), c)
    germ = set()
    if germline is not None and len(germline):
        g = germline[germline["classification"].isin(["pathogenic", "likely_pathogenic"])]
        germ = set(zip(g["centre"], g["patient_id"], strict=True))
    classes = []
    for key in zip(p["centre"], p["patient_id"], strict=True):
        if key in rank:
            classes.append(PATIENT_CLASSES[rank[key]])
        elif key in prof_keys or key in germ:
            classes.append("none")
        else:
            classes.append("not_profiled")
    out = p.copy()
    out["brca_class"] = classes
    out["germline_carrier"] = [k in germ for k in zip(p["centre"], p["patient_id"],
                                                      strict=True)]
    return out.reset_index(drop=True)


def co_alterations(tables: dict[str, pd.DataFrame], classes: pd.DataFrame) -> pd.DataFrame:
    """Per HR gene and patient class: patients with a protein-altering mutation or deep deletion.

    Columns: ``gene``, then one ``<class>`` count per class and ``<class>_n`` (profiled
    patients of the class); counts of 1-4 (and classes of 1-4 patients) are suppressed (None). A gene not on a sample's panel is not counted as wild type only
    through the class denominators (panel coverage per gene is not checked here).
    """
    s = tables["samples"][["centre", "sample_id", "patient_id"]]
    hits = []
    m = tables.get("mutations")
    if m is not None and len(m):
        mm = m[m["hugo_symbol"].astype(str).str.upper().isin(CO_GENES)
               & m["variant_classification"].isin(NONSYNONYMOUS)]
        hits.append(mm.assign(gene=mm["hugo_symbol"].str.upper())[["centre", "sample_id",
                                                                     "gene"]])
    c = tables.get("cna")
    if c is not None and len(c):
        cc = c[c["hugo_symbol"].astype(str).str.upper().isin(CO_GENES) & (c["cna"] <= -2)]
        hits.append(cc.assign(gene=cc["hugo_symbol"].str.upper())[["centre", "sample_id",
                                                                     "gene"]])
    hit = (pd.concat(hits).merge(s, on=["centre", "sample_id"])
           [["centre", "patient_id", "gene"]].drop_duplicates()
           if hits else pd.DataFrame(columns=["centre", "patient_id", "gene"]))
    hit = hit.merge(classes, on=["centre", "patient_id"])
    rows = []
    sizes = classes["brca_class"].value_counts()
    for gene in CO_GENES:
        row: dict[str, str | int | None] = {"gene": gene}
        g = hit[hit["gene"] == gene]
        for cls in PATIENT_CLASSES:
            k = int(g.loc[g["brca_class"] == cls, "patient_id"].nunique())
            n = int(sizes.get(cls, 0))
            row[cls] = k if (k == 0 or k >= MIN_CELL) and (n == 0 or n >= MIN_CELL) else None
            row[f"{cls}_n"] = n if n == 0 or n >= MIN_CELL else None
        rows.append(row)
    return pd.DataFrame(rows)


def tmb_msi(tables: dict[str, pd.DataFrame], classes: pd.DataFrame) -> pd.DataFrame:
    """TMB and MSI per patient class, and pathogenic carriers vs ``none`` (Mann-Whitney).

    Columns: ``group, patients, tmb_n, tmb_median, tmb_q1, tmb_q3, msi_n, msi_h`` and, on the
    ``carriers_vs_none`` row, ``p_value`` (two-sided Mann-Whitney U on TMB); ``suppressed``:
    a group of 1-4 patients, its numbers withheld.
    """
    s = tables["samples"].reindex(columns=["centre", "patient_id", "tmb", "msi_status"])
    per = s.groupby(["centre", "patient_id"], as_index=False).agg(
        tmb=("tmb", "max"), msi_h=("msi_status", lambda v: (v == "MSI-H").any()
                                   if v.notna().any() else np.nan))
    df = classes.merge(per, on=["centre", "patient_id"], how="left")
    groups = {cls: df[df["brca_class"] == cls] for cls in PATIENT_CLASSES}
    groups["pathogenic_all"] = df[df["brca_class"].str.startswith("pathogenic")]
    rows = []
    for name, g in groups.items():
        tmb = g["tmb"].dropna()
        msi = g["msi_h"].dropna()
        rows.append({"group": name, "patients": len(g), "tmb_n": len(tmb),
                     "tmb_median": tmb.median() if len(tmb) else np.nan,
                     "tmb_q1": tmb.quantile(0.25) if len(tmb) else np.nan,
                     "tmb_q3": tmb.quantile(0.75) if len(tmb) else np.nan,
                     "msi_n": len(msi), "msi_h": int(msi.astype(bool).sum()),
                     "p_value": np.nan})
    a = groups["pathogenic_all"]["tmb"].dropna()
    b = groups["none"]["tmb"].dropna()
    p = stats.mannwhitneyu(a, b).pvalue if len(a) and len(b) else np.nan
    small = 0 < min(len(a), len(b)) < MIN_CELL
    rows.append({"group": "carriers_vs_none", "patients": len(groups["pathogenic_all"])
                 + len(groups["none"]), "tmb_n": len(a) + len(b), "tmb_median": np.nan,
                 "tmb_q1": np.nan, "tmb_q3": np.nan, "msi_n": np.nan, "msi_h": np.nan,
                 "p_value": np.nan if small else p})
    out = pd.DataFrame(rows)
    hide = (out["patients"] > 0) & (out["patients"] < MIN_CELL)
    out["suppressed"] = hide
    out.loc[hide, ["patients", "tmb_n", "tmb_median", "tmb_q1", "tmb_q3", "msi_n", "msi_h"]] = (
        np.nan)
    return out
