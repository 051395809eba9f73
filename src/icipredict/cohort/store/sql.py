"""The store's SQL text: table layout, DDL of every table and the ``current_*`` and BRCA views."""

from __future__ import annotations

from icipredict.cohort.schema import CONTRACTS

#: Bumped when the store's table layout changes (2: versions kept, one key per store).
STORE_SCHEMA_VERSION = 2

#: Contract column kind -> DuckDB type.
SQL_TYPES: dict[str, str] = {
    "str": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool01": "TINYINT", "date": "DATE",
}

#: Tables holding one centre's rows (one set of rows per stored version of that centre).
CENTRE_TABLES: tuple[str, ...] = tuple(n for n in CONTRACTS if n != "panel_genes")

#: Variant classes that count as a BRCA1/2 carrier in the registry: the protein-altering
#: ("non-synonymous") MAF classes, as maftools' default ``vc_nonSyn`` and cBioPortal's TMB do.
#: Silent, Intron, 3'/5'UTR, 3'/5'Flank, IGR, RNA and Splice_Region variants do not alter the
#: protein and are left out (a silent BRCA2 variant is not a carrier).
NONSYNONYMOUS: tuple[str, ...] = (
    "Missense_Mutation", "Nonsense_Mutation", "Frame_Shift_Del", "Frame_Shift_Ins",
    "In_Frame_Del", "In_Frame_Ins", "Splice_Site", "Nonstop_Mutation", "Translation_Start_Site",
)


def db_columns(name: str) -> list[str]:
    """Columns of a store table: ``centre`` and ``version`` first for per-centre tables."""
    cols = CONTRACTS[name].column_names
    if name not in CENTRE_TABLES:
        return cols
    return ([] if "centre" in cols else ["centre"]) + ["version"] + cols


def table_ddl(name: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one contract table (typed columns, its key)."""
    contract = CONTRACTS[name]
    parts = []
    if name in CENTRE_TABLES:
        if "centre" not in contract.column_names:
            parts.append("centre VARCHAR NOT NULL")
        parts.append("version INTEGER NOT NULL")
    for col in contract.columns:
        null = "" if col.nullable else " NOT NULL"
        parts.append(f"{col.name} {SQL_TYPES[col.kind]}{null}")
    if contract.key:
        key = list(contract.key) if name == "panel_genes" else ["centre", "version", *contract.key]
        parts.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {name} (\n  " + ",\n  ".join(parts) + "\n)"


def current_view(name: str) -> str:
    """The ``current_<name>`` view: a per-centre table's rows of each centre's current version."""
    return (f"CREATE OR REPLACE VIEW current_{name} AS SELECT t.* EXCLUDE (version) FROM {name} t "
            "JOIN current_versions c ON c.centre = t.centre AND c.version = t.version")


INGESTS_DDL = (
    "CREATE TABLE IF NOT EXISTS ingests (\n"
    "  ingest_id BIGINT PRIMARY KEY,\n"
    "  centre VARCHAR NOT NULL,\n"
    "  version INTEGER NOT NULL,\n"
    "  content_hash VARCHAR NOT NULL,\n"
    "  key_fingerprint VARCHAR NOT NULL,\n"
    "  ingested_at TIMESTAMP NOT NULL,  -- UTC\n"
    "  source VARCHAR,\n"
    "  rows_kept BOOLEAN DEFAULT true,  -- false: listed only (stored before schema 2)\n"
    "  UNIQUE (centre, version)\n)"
)
# Row counts per contract table (n_<table>) are added by ensure_schema, so a table added to
# CONTRACTS later gets its column in an existing store (NULL for older versions).

CURRENT_DDL = ("CREATE TABLE IF NOT EXISTS current_versions "
               "(centre VARCHAR PRIMARY KEY, version INTEGER NOT NULL)")

HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS history (\n"
    "  event_id BIGINT PRIMARY KEY,\n"
    "  event_at TIMESTAMP NOT NULL,  -- UTC\n"
    "  event VARCHAR NOT NULL,  -- ingest | restore | rekey | migrate\n"
    "  centre VARCHAR,\n"
    "  version INTEGER,\n"
    "  previous_version INTEGER,\n"
    "  key_fingerprint VARCHAR,\n"
    "  detail VARCHAR\n)"
)

_NONSYN_SQL = ", ".join(f"'{v.lower()}'" for v in NONSYNONYMOUS)

#: The network's BRCA1/2 somatic registry: every protein-altering BRCA1/BRCA2 variant of every
#: patient (current versions), with the patient's cancer type, ICI treatment and outcome.
BRCA_VIEW = f"""
CREATE OR REPLACE VIEW brca_registry AS
SELECT p.centre, p.patient_id, s.sample_id, m.hugo_symbol AS gene, m.hgvsp_short,
       m.variant_classification, m.vaf, p.cancer_type, t.drug, t.drug_class,
       t.prior_systemic_therapy, o.bor, o.responder, o.os_months, o.os_event,
       o.pfs_months, o.pfs_event
FROM current_mutations m
JOIN current_samples s ON s.centre = m.centre AND s.sample_id = m.sample_id
JOIN current_patients p ON p.centre = s.centre AND p.patient_id = s.patient_id
LEFT JOIN current_treatments t ON t.centre = p.centre AND t.patient_id = p.patient_id
LEFT JOIN current_outcomes o ON o.centre = p.centre AND o.patient_id = p.patient_id
WHERE upper(m.hugo_symbol) IN ('BRCA1', 'BRCA2')
  AND lower(m.variant_classification) IN ({_NONSYN_SQL})
"""
