"""Discrete copy number (cBioPortal ``COPY_NUMBER_ALTERATION`` / ``DISCRETE``) of the HR genes.

Only the homologous-recombination genes (:data:`HR_GENES`) are read, into the ``cna`` table:
one row per sample and gene with the GISTIC call (-2 deep deletion ... 2 amplification). Both
layouts cBioPortal accepts are read: ``DISCRETE`` (wide: ``Hugo_Symbol``, ``Entrez_Gene_Id``
and one column per sample) and ``DISCRETE_LONG`` (``Hugo_Symbol``, ``Entrez_Gene_Id``,
``Sample_Id``, ``Value``). ``NA`` or empty values are not profiled (no row), never neutral.
Values outside -2..2 (and cBioPortal's ``-1.5``) are errors naming the file, row and sample.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from icipredict.cohort.schema import CohortError, empty_table

#: Homologous-recombination repair genes read from the CNA files (the BRCA1/2 registry's genes
#: and the HR genes whose loss gives a BRCA-like repair defect).
HR_GENES: tuple[str, ...] = ("BRCA1", "BRCA2", "PALB2", "RAD51C", "RAD51D", "RAD51B", "ATM",
                             "ATR", "CHEK1", "CHEK2", "BARD1", "BRIP1", "RAD51", "RAD54L",
                             "FANCA", "FANCD2", "FANCL", "NBN", "MRE11", "RAD50", "CDK12")

_NA = {"", "NA", "NaN", "nan"}


def read_cna(path: Path, *, genes: tuple[str, ...] | None = HR_GENES,
             samples: set[str] | None = None) -> pd.DataFrame:
    """The ``cna`` table of one discrete CNA file (genes ``genes``; None: every gene).

    Parameters
    ----------
    path
        The data file (``data_cna*.txt``) named by a ``DISCRETE``/``DISCRETE_LONG`` meta file.
    genes
        Genes kept (upper case Hugo symbols).
    samples
        The study's samples: a sample column not among them is an error.
    """
    raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    if "Hugo_Symbol" not in raw.columns:
        raise CohortError("discrete CNA file has no Hugo_Symbol column", file=path,
                          column="Hugo_Symbol")
    raw["_source_row"] = range(2, len(raw) + 2)
    if genes is not None:
        raw = raw[raw["Hugo_Symbol"].str.upper().isin(genes)]
    if "Sample_Id" in raw.columns and "Value" in raw.columns:
        long = raw.rename(columns={"Sample_Id": "sample_id", "Value": "value"})
    else:
        ids = [c for c in raw.columns if c not in ("Hugo_Symbol", "Entrez_Gene_Id",
                                                   "Cytoband", "_source_row")]
        long = raw.melt(id_vars=["Hugo_Symbol", "_source_row"], value_vars=ids,
                        var_name="sample_id", value_name="value")
    long = long[~long["value"].str.strip().isin(_NA)]
    values = pd.to_numeric(long["value"], errors="coerce")
    bad = values.isna() | ~values.isin([-2, -1, 0, 1, 2])
    if bad.any():
        i = long.index[bad][0]
        raise CohortError(f"discrete copy-number value {long.at[i, 'value']!r} of sample "
                          f"{long.at[i, 'sample_id']!r}: expected -2, -1, 0, 1 or 2", file=path,
                          row=int(long.at[i, "_source_row"]), column=str(long.at[i, "sample_id"]))
    if samples is not None:
        unknown = sorted(set(long["sample_id"]) - samples)
        if unknown:
            raise CohortError(f"{len(unknown)} sample(s) not in the sample file, e.g. "
                              f"{unknown[:3]}", file=path, column="Sample_Id")
    out = pd.DataFrame({"sample_id": long["sample_id"].astype(object),
                        "hugo_symbol": long["Hugo_Symbol"].str.upper().astype(object),
                        "cna": values.astype("Int64"),
                        "_source_row": long["_source_row"].astype("int64")})
    dup = out.duplicated(["sample_id", "hugo_symbol"])
    if dup.any():
        i = out.index[dup][0]
        raise CohortError(f"gene {out.at[i, 'hugo_symbol']} of sample {out.at[i, 'sample_id']!r}"
                          " appears twice", file=path, row=int(out.at[i, "_source_row"]),
                          column="Hugo_Symbol")
    return out.reset_index(drop=True) if len(out) else empty_table("cna")


def read_cna_files(paths: list[Path], samples: set[str] | None = None) -> pd.DataFrame:
    """The ``cna`` table of every discrete CNA file of a study (HR genes only)."""
    tables = [read_cna(p, samples=samples) for p in paths]
    tables = [t for t in tables if len(t)]
    if not tables:
        return empty_table("cna")
    return pd.concat(tables, ignore_index=True).drop_duplicates(["sample_id", "hugo_symbol"])
