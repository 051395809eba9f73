"""Load a cBioPortal study folder into a validated cohort.

Files read (cBioPortal's staging format):

- ``meta_study.txt`` (required; ``cancer_study_identifier`` is the default centre name);
- ``data_clinical_sample.txt`` (required) and ``data_clinical_patient.txt`` (optional): the 4 or
  5 ``#`` header lines (display names, descriptions, datatypes, priorities) then the attribute row;
  ``[Not Available]``-style values are missing;
- ``data_mutations*.txt`` (MAF; ``*uncalled*`` files are skipped), read by
  :func:`icipredict.cohort.maf.load_maf`;
- gene panel files ``data_gene_panel_*.txt`` (``stable_id:`` and ``gene_list:`` lines) -> the
  ``panel_genes`` table, and ``data_gene_panel_matrix.txt`` (sample -> panel of the ``mutations``
  column) -> ``samples.panel``.

Clinical attributes understood (either file; others are ignored with a log message):

=================================================  ======================================
PATIENT_ID, SAMPLE_ID                              patient_id, sample_id
AGE, AGE_AT_ICI, AGE_AT_TREATMENT                  age (years)
SEX, GENDER                                        sex (Male/Female)
OS_MONTHS, OS_STATUS                               os_months, os_event ("1:DECEASED"/"0:LIVING")
PFS_MONTHS, PFS_STATUS                             pfs_months, pfs_event ("1:Progressed"/"0:...")
CANCER_TYPE (patient level from the first sample)  cancer_type (OncoTree code)
TMB_NONSYNONYMOUS, TMB                             tmb (mut/Mb)
MSI_SCORE, MSI_TYPE                                msi_score, msi_status (Instable/Stable)
GENE_PANEL                                         panel (else the gene panel matrix)
TUMOR_PURITY                                       tumour_purity (read as %, converted)
FRACTION_GENOME_ALTERED, FCNA, HED, HLA_LOH        fcna, hed, hla_loh
PDL1_TPS                                           pdl1_tps (%)
DRUG_TYPE, DRUG_CLASS / DRUG, TREATMENT            drug_class / drug
PRIOR_SYSTEMIC_THERAPY, CHEMO_BEFORE_IO            prior_systemic_therapy
LINE_OF_THERAPY                                    line
ALBUMIN (g/dL), NLR, PLATELETS, HGB/HEMOGLOBIN     albumin, nlr, platelets, haemoglobin (g/dL)
NEUTROPHILS, LYMPHOCYTES, LDH                      neutrophils, lymphocytes (10^9/L), ldh (U/L)
BOR, BEST_OVERALL_RESPONSE, RECIST                 bor (responder derived unless RESPONDER)
RESPONDER                                          responder (0/1)
BMI, ECOG, SMOKING_HISTORY, STAGE                  bmi, ecog, smoking, stage_iv
=================================================  ======================================

cBioPortal declares no units: lab values are taken to be in the contract's units (US
conventions, as at MSK), and the range checks flag files that are not.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.cohort import harmonise as hz
from icipredict.cohort._frame import (
    cast_tables,
    dedupe,
    harmonise_frame,
    split_tables,
    validate_tables,
)
from icipredict.cohort.column_map import ColumnSpec
from icipredict.cohort.maf import load_maf
from icipredict.cohort.schema import (
    SOURCE_ROW,
    Cohort,
    CohortError,
    CohortErrors,
    empty_table,
)

log = logging.getLogger(__name__)

#: cBioPortal attribute -> (canonical column, unit of the values or None)
ATTRIBUTES: dict[str, tuple[str, str | None]] = {
    "PATIENT_ID": ("patient_id", None), "SAMPLE_ID": ("sample_id", None),
    "AGE": ("age", "years"), "AGE_AT_ICI": ("age", "years"), "AGE_AT_TREATMENT": ("age", "years"),
    "SEX": ("sex", None), "GENDER": ("sex", None),
    "OS_MONTHS": ("os_months", "months"), "OS_STATUS": ("os_event", None),
    "PFS_MONTHS": ("pfs_months", "months"), "PFS_STATUS": ("pfs_event", None),
    "CANCER_TYPE": ("cancer_type", None),
    "TMB_NONSYNONYMOUS": ("tmb", "mut/Mb"), "TMB": ("tmb", "mut/Mb"),
    "MSI_SCORE": ("msi_score", None), "MSI_TYPE": ("msi_status", None),
    "GENE_PANEL": ("panel", None), "TUMOR_PURITY": ("tumour_purity", "%"),
    "FRACTION_GENOME_ALTERED": ("fcna", "fraction"), "FCNA": ("fcna", "fraction"),
    "HED": ("hed", None), "HLA_LOH": ("hla_loh", None), "PDL1_TPS": ("pdl1_tps", "%"),
    "DRUG_TYPE": ("drug_class", None), "DRUG_CLASS": ("drug_class", None),
    "DRUG": ("drug", None), "TREATMENT": ("drug", None),
    "PRIOR_SYSTEMIC_THERAPY": ("prior_systemic_therapy", None),
    "CHEMO_BEFORE_IO": ("prior_systemic_therapy", None), "LINE_OF_THERAPY": ("line", None),
    "ALBUMIN": ("albumin", "g/dL"), "NLR": ("nlr", None), "PLATELETS": ("platelets", "10^9/L"),
    "HGB": ("haemoglobin", "g/dL"), "HEMOGLOBIN": ("haemoglobin", "g/dL"),
    "NEUTROPHILS": ("neutrophils", "10^9/L"), "LYMPHOCYTES": ("lymphocytes", "10^9/L"),
    "LDH": ("ldh", "U/L"),
    "BOR": ("bor", None), "BEST_OVERALL_RESPONSE": ("bor", None), "RECIST": ("bor", None),
    "RESPONDER": ("responder", None),
    "BMI": ("bmi", None), "ECOG": ("ecog", None), "SMOKING_HISTORY": ("smoking", None),
    "STAGE": ("stage_iv", None),
}
CBIO_NA = ["[Not Available]", "[Not Applicable]", "[Unknown]", "[Not Evaluated]",
           "[Not Reported]", "[Discrepancy]", "NA", "N/A", ""]
_SAMPLE_LEVEL = {"sample_id", "panel", "tmb", "msi_score", "msi_status", "tumour_purity", "fcna",
                 "hed", "hla_loh", "pdl1_tps"}


def read_meta(path: Path) -> dict[str, str]:
    """Parse a cBioPortal ``key: value`` meta file."""
    meta = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if ":" in line and not line.startswith("#"):
            key, value = line.split(":", 1)
            meta[key.strip()] = value.strip()
    return meta


def read_clinical(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a cBioPortal clinical file (``#`` header lines, then the attribute row) as strings."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        n_comment = 0
        for line in fh:
            if not line.startswith("#"):
                break
            n_comment += 1
    try:
        df = pd.read_csv(path, sep="\t", skiprows=n_comment, dtype=str, na_values=CBIO_NA,
                         keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise CohortError(f"malformed clinical file ({exc})", file=path) from exc
    except pd.errors.EmptyDataError as exc:
        raise CohortError("empty clinical file", file=path) from exc
    df.columns = [str(c).strip().upper() for c in df.columns]
    return df, np.arange(n_comment + 2, n_comment + 2 + len(df))


def read_gene_panels(folder: Path) -> pd.DataFrame:
    """Read every ``data_gene_panel_*.txt`` panel definition into the ``panel_genes`` table."""
    rows: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*gene_panel*.txt")):
        if "matrix" in path.name:
            continue
        panel, genes = None, []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "stable_id":
                panel = value.strip()
            elif key.strip() == "gene_list":
                genes = [g.strip() for g in value.replace(",", "\t").split("\t") if g.strip()]
        if panel is None or not genes:
            raise CohortError("gene panel file needs 'stable_id:' and 'gene_list:' lines",
                              file=path)
        name = panel_name(panel)
        rows.extend((name, g) for g in dict.fromkeys(genes))
    if not rows:
        return empty_table("panel_genes")
    return pd.DataFrame(rows, columns=["panel", "hugo_symbol"])


def panel_name(value: object) -> object:
    """Canonical panel name when known (IMPACT468 -> MSK-IMPACT468), else the name as given."""
    if not isinstance(value, str):
        return value
    try:
        return hz.to_panel(value)
    except CohortError:
        return value.strip()


def _specs(df: pd.DataFrame, path: Path) -> dict[str, ColumnSpec]:
    specs: dict[str, ColumnSpec] = {}
    ignored = []
    for attr in df.columns:
        if attr in ATTRIBUTES and attr != "GENE_PANEL":
            canonical, unit = ATTRIBUTES[attr]
            specs.setdefault(canonical, ColumnSpec(column=attr, unit=unit))
        elif attr != "GENE_PANEL":
            ignored.append(attr)
    if ignored:
        log.info("%s: ignoring attributes not in the cohort contract: %s", path.name, ignored)
    return specs


def load_cbioportal(folder: str | Path, *, centre: str | None = None) -> Cohort:
    """Load a cBioPortal study folder (see the module docstring for what is read).

    Parameters
    ----------
    folder
        The study folder (with ``meta_study.txt``).
    centre
        Centre name (default: the study's ``cancer_study_identifier``).

    Returns
    -------
    Cohort
        Validated tables with the source IDs.

    Raises
    ------
    CohortError, CohortErrors
        Located at the source file, line and attribute.
    """
    folder = Path(folder)
    meta_path = folder / "meta_study.txt"
    if not meta_path.is_file():
        raise CohortError("not a cBioPortal study: meta_study.txt is missing", file=folder)
    meta = read_meta(meta_path)
    centre = centre or meta.get("cancer_study_identifier") or folder.name
    sample_path = folder / "data_clinical_sample.txt"
    if not sample_path.is_file():
        raise CohortError("data_clinical_sample.txt is missing", file=folder)
    patient_path = folder / "data_clinical_patient.txt"

    errors: list[CohortError] = []
    s_raw, s_rows = read_clinical(sample_path)
    hs = harmonise_frame(s_raw, _specs(s_raw, sample_path), file=sample_path, rows=s_rows)
    errors.extend(hs.errors)
    sframe = hs.frame
    _attach_panels(folder, s_raw, sframe, hs.column_names)

    # patient-level values given in the sample file: first sample of each patient
    s_patient_cols = [c for c in sframe.columns
                      if c not in _SAMPLE_LEVEL and c not in (SOURCE_ROW, "panel_size_mb")]
    first = sframe[s_patient_cols].dropna(subset=["patient_id"]) if "patient_id" in sframe \
        else pd.DataFrame(columns=["patient_id"])
    first = first.drop_duplicates("patient_id")
    if patient_path.is_file():
        p_raw, p_rows = read_clinical(patient_path)
        hp = harmonise_frame(p_raw, _specs(p_raw, patient_path), file=patient_path, rows=p_rows)
        errors.extend(hp.errors)
        pframe, pnames, pfile = hp.frame, dict(hp.column_names), patient_path
        extra = [c for c in first.columns if c not in pframe.columns and c != "patient_id"]
        if "patient_id" in pframe and extra:
            pframe = pframe.merge(first[["patient_id", *extra]], on="patient_id", how="left")
            pnames.update({c: hs.column_names.get(c, c) for c in extra})
    else:
        pframe = sframe.loc[first.index, [*s_patient_cols, SOURCE_ROW]]
        pnames, pfile = dict(hs.column_names), sample_path
    pnames.setdefault("cancer_type", "CANCER_TYPE")
    pnames.setdefault("patient_id", "PATIENT_ID")

    ptables = split_tables(pframe, centre=centre)
    ptables.pop("samples", None)
    stables = {"samples": split_tables(sframe)["samples"]} if "sample_id" in sframe else {}
    snames = {**hs.column_names, "sample_id": "SAMPLE_ID", "patient_id": "PATIENT_ID"}
    errors.extend(validate_tables(ptables, file=pfile, column_names=pnames))
    if stables:
        errors.extend(validate_tables(stables, file=sample_path, column_names=snames))
    else:
        errors.append(CohortError("attribute SAMPLE_ID missing", file=sample_path,
                                  column="SAMPLE_ID"))
    errors = dedupe(errors)
    if errors:
        raise errors[0] if len(errors) == 1 else CohortErrors(errors)

    tables = cast_tables({**ptables, **stables})
    cohort = Cohort(**tables)
    mafs = [p for p in sorted(folder.glob("data_mutations*.txt")) if "uncalled" not in p.name]
    if mafs:
        cohort.mutations = pd.concat([load_maf(p) for p in mafs], ignore_index=True)
    cohort.panel_genes = read_gene_panels(folder)
    cohort.validate(source=folder)
    log.info("loaded cBioPortal study %s: %d patients, %d samples, %d variants", centre,
             len(cohort.patients), len(cohort.samples), len(cohort.mutations))
    return cohort


def _attach_panels(folder: Path, s_raw: pd.DataFrame, sframe: pd.DataFrame,
                   names: dict[str, str]) -> None:
    """samples.panel from GENE_PANEL or the gene panel matrix; panel_size_mb when known."""
    panel = None
    if "GENE_PANEL" in s_raw.columns:
        panel, names["panel"] = s_raw["GENE_PANEL"], "GENE_PANEL"
    matrix = folder / "data_gene_panel_matrix.txt"
    if panel is None and matrix.is_file() and "sample_id" in sframe:
        m = pd.read_csv(matrix, sep="\t", dtype=str, na_values=CBIO_NA + ["NA"])
        m.columns = [c.strip() for c in m.columns]
        col = "mutations" if "mutations" in m.columns else next(
            (c for c in m.columns if c != "SAMPLE_ID"), None)
        if col is not None and "SAMPLE_ID" in m.columns:
            lookup = dict(zip(m["SAMPLE_ID"], m[col], strict=True))
            panel = sframe["sample_id"].map(lookup)
            names["panel"] = f"{matrix.name}:{col}"
    if panel is None:
        return
    uniq = {u: panel_name(u) for u in pd.unique(panel.dropna())}
    sframe["panel"] = panel.map(uniq).to_numpy()
    sizes = {}
    for name in set(uniq.values()):
        try:
            sizes[name] = hz.panel_size_mb(name)
        except CohortError:
            log.warning("panel %r has no known size: panel_size_mb left missing", name)
            sizes[name] = np.nan
    sframe["panel_size_mb"] = sframe["panel"].map(sizes).astype(float)
    names["panel_size_mb"] = names["panel"]
