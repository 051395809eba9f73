"""The classified BRCA1/2 registry, built from the store's current tables.

:func:`build_registry` is pure (tables in, tables out) so tests give it generated frames;
:func:`registry_from_store` reads the current versions of a :class:`CohortStore`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from icipredict.cohort.brca.classify import (
    BRCA_GENES,
    KnowledgeBase,
    classify_frame,
    load_knowledge_base,
)
from icipredict.cohort.brca.origin import assign_origin
from icipredict.cohort.brca.second_hit import deep_deletion_rows, second_hits
from icipredict.cohort.store.sql import NONSYNONYMOUS

#: Columns of the registry, in order (``second_hit``/``allelic_status``: see second_hit.py).
REGISTRY_COLUMNS: tuple[str, ...] = (
    "centre", "patient_id", "sample_id", "gene", "hgvsp_short", "variant_classification",
    "vaf", "classification", "rule", "kb_version", "kb_source", "origin", "germline_follow_up",
    "second_hit", "allelic_status",
    "cancer_type", "drug", "drug_class", "line", "prior_systemic_therapy", "bor", "responder",
    "os_months", "os_event", "pfs_months", "pfs_event",
)

#: Store tables the registry reads.
TABLES = ("patients", "samples", "mutations", "germline_mutations", "treatments", "outcomes",
          "cna", "panel_genes")


@dataclass
class Registry:
    """The registry's tables.

    Attributes
    ----------
    somatic
        One row per protein-altering somatic BRCA1/2 variant (and per BRCA1/2 deep deletion),
        classified (:data:`REGISTRY_COLUMNS`).
    germline
        Germline BRCA1/2 variants (``germline_mutations``), classified, listed apart: never
        somatic carriers.
    kb_version
        Knowledge-base version used.
    """

    somatic: pd.DataFrame
    germline: pd.DataFrame
    kb_version: str


def _variants(mutations: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """BRCA1/2 protein-altering rows with their patient."""
    if mutations.empty:
        return pd.DataFrame(columns=["centre", "patient_id", "sample_id", "gene", "hgvsp_short",
                                     "variant_classification", "vaf"])
    m = mutations.copy()
    m["gene"] = m["hugo_symbol"].astype(str).str.upper()
    keep = m["gene"].isin(BRCA_GENES) & m["variant_classification"].astype(str).str.lower().isin(
        [v.lower() for v in NONSYNONYMOUS])
    m = m[keep]
    s = samples[["centre", "sample_id", "patient_id"]]
    m = m.merge(s, on=["centre", "sample_id"], how="inner")
    cols = ["centre", "patient_id", "sample_id", "gene", "hgvsp_short",
            "variant_classification", "vaf"]
    if "mutation_status" in m.columns:
        cols.append("mutation_status")
    return m[cols].astype({"variant_classification": str})


def clinical(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per patient: cancer type, treatment and outcome (keys ``centre, patient_id``)."""
    p = tables["patients"][["centre", "patient_id", "cancer_type"]]
    t = tables["treatments"].reindex(columns=["centre", "patient_id", "drug", "drug_class",
                                              "line", "prior_systemic_therapy"])
    o = tables["outcomes"].reindex(columns=["centre", "patient_id", "bor", "responder",
                                            "os_months", "os_event", "pfs_months",
                                            "pfs_event"])
    df = p.merge(t.drop_duplicates(["centre", "patient_id"]), on=["centre", "patient_id"],
                 how="left")
    return df.merge(o.drop_duplicates(["centre", "patient_id"]), on=["centre", "patient_id"],
                    how="left")


def build_registry(tables: dict[str, pd.DataFrame], kb: KnowledgeBase | None = None
                   ) -> Registry:
    """Classify every BRCA1/2 variant of ``tables`` (store tables with a ``centre`` column).

    ``tables`` may hold ``cna`` (discrete copy number) and ``loh`` (LOH calls): they decide
    the second hit; BRCA1/2 deep deletions become registry rows of their own.
    """
    kb = kb or load_knowledge_base()
    clin = clinical(tables)
    cna, loh = tables.get("cna"), tables.get("loh")
    parts = {}
    for name, germ in (("mutations", False), ("germline_mutations", True)):
        rows = _variants(tables.get(name, pd.DataFrame()), tables["samples"])
        rows = assign_origin(classify_frame(rows, kb), germline=germ)
        if not germ:
            deletions = deep_deletion_rows(cna, tables["samples"])
            if len(deletions):
                deletions["kb_version"] = kb.version
                rows = pd.concat([rows, deletions], ignore_index=True) if len(rows) else deletions
        rows = second_hits(rows, cna, loh)
        rows = rows.merge(clin, on=["centre", "patient_id"], how="left")
        parts[name] = _order(rows)
    return Registry(parts["mutations"], parts["germline_mutations"], kb.version)


def _order(df: pd.DataFrame) -> pd.DataFrame:
    cols = list(REGISTRY_COLUMNS) + [c for c in df.columns if c not in REGISTRY_COLUMNS]
    df = df.reindex(columns=cols)
    for col in ("line", "prior_systemic_therapy", "responder", "os_event", "pfs_event"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df["germline_follow_up"] = df["germline_follow_up"].astype(bool)
    return df.sort_values(["centre", "patient_id", "gene", "hgvsp_short"],
                          na_position="last").reset_index(drop=True)


def read_tables(store, names: tuple[str, ...] = TABLES) -> dict[str, pd.DataFrame]:
    """The current rows of ``names`` from a :class:`~icipredict.cohort.store.CohortStore`."""
    return {name: store.table(name) for name in names}


def registry_from_store(store, kb: KnowledgeBase | None = None) -> Registry:
    """:func:`build_registry` on a store's current versions."""
    return build_registry(read_tables(store), kb)


@dataclass
class Analysis:
    """The registry and its analyses (see :func:`analyse`)."""

    registry: Registry
    patients: pd.DataFrame
    co_alterations: pd.DataFrame
    tmb_msi: pd.DataFrame
    outcomes: pd.DataFrame


def analyse(tables: dict[str, pd.DataFrame], kb: KnowledgeBase | None = None) -> Analysis:
    """Registry, patient classes with clinical data, HR co-alterations, TMB/MSI, outcomes."""
    from icipredict.cohort.brca.defects import co_alterations, patient_classes, tmb_msi
    from icipredict.cohort.brca.outcomes import outcome_table

    reg = build_registry(tables, kb)
    classes = patient_classes(tables, reg.somatic, reg.germline)
    patients = classes.merge(clinical(tables), on=["centre", "patient_id"], how="left")
    return Analysis(reg, patients, co_alterations(tables, classes), tmb_msi(tables, classes),
                    outcome_table(patients))
