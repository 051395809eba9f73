"""MAF reading: somatic vs germline vs not-a-variant, cBioPortal's strict rules, the real corpus.

Expected counts of the cBioPortal corpus files (``../shared/data/cbioportal/mutations``) were
counted from the files themselves (plain Python, one status per data line), not from the loader.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from icipredict.cohort.loaders import load_source
from icipredict.cohort.maf import MafRead, load_maf, read_maf
from icipredict.cohort.schema import CONTRACTS, SOURCE_ROW, Cohort

HEADER = ["Hugo_Symbol", "Chromosome", "Start_Position", "Variant_Classification",
          "Reference_Allele", "Tumor_Seq_Allele2", "Tumor_Sample_Barcode", "HGVSp_Short",
          "Mutation_Status", "Validation_Status"]


def _row(gene: str = "TP53", sample: str = "S1", status: str = "Somatic",
         validation: str = "Untested", **over: str) -> list[str]:
    values = {"Hugo_Symbol": gene, "Chromosome": "17", "Start_Position": "7673802",
              "Variant_Classification": "Missense_Mutation", "Reference_Allele": "C",
              "Tumor_Seq_Allele2": "T", "Tumor_Sample_Barcode": sample,
              "HGVSp_Short": "p.R213Q", "Mutation_Status": status,
              "Validation_Status": validation, **over}
    return [values[c] for c in HEADER]


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    """Write a tab-separated MAF with a '#version' line."""
    lines = ["#version 2.4", "\t".join(header), *("\t".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_somatic_germline_and_dropped_rows_are_kept_apart(tmp_path: Path) -> None:
    rows = [_row("TP53"), _row("KRAS", status="somatic"), _row("BRCA1", status="Germline"),
            _row("BRCA2", status="Wildtype"), _row("ATM", status="LOH"),
            _row("PTEN", status="None"), _row("EGFR", status=""),
            _row("ALK", validation="Wildtype")]
    read = read_maf(write(tmp_path / "x.maf", rows))
    assert isinstance(read, MafRead)
    assert read.mutations["hugo_symbol"].tolist() == ["TP53", "KRAS", "EGFR"]
    assert read.mutations[SOURCE_ROW].tolist() == [3, 4, 9]
    assert read.germline["hugo_symbol"].tolist() == ["BRCA1"]
    assert read.dropped == {"Mutation_Status=Wildtype": 1, "Mutation_Status=LOH": 1,
                            "Mutation_Status=None": 1, "Validation_Status=Wildtype": 1}
    assert read.n_rows == 8 == len(read.mutations) + len(read.germline) + sum(read.dropped.values())
    assert read.path == tmp_path / "x.maf"
    assert list(read.germline.columns) == list(read.mutations.columns)
    assert load_maf(tmp_path / "x.maf")["hugo_symbol"].tolist() == ["TP53", "KRAS", "EGFR"]


def test_no_status_columns_means_all_somatic(tmp_path: Path) -> None:
    header = HEADER[:-2]
    read = read_maf(write(tmp_path / "x.maf", [_row()[:-2], _row("KRAS")[:-2]], header))
    assert len(read.mutations) == 2 and read.germline.empty and read.dropped == {}


def test_germline_table_contract_and_cohort_fields(tmp_path: Path) -> None:
    assert CONTRACTS["germline_mutations"].column_names == CONTRACTS["mutations"].column_names
    cohort = Cohort()
    assert "germline_mutations" in cohort.tables()
    assert "load_report" not in cohort.tables() and "load_report" not in Cohort.TABLES
    rows = [_row("TP53"), _row("BRCA1", status="Germline"), _row("ATM", status="LOH")]
    loaded = load_source(write(tmp_path / "centre.maf", rows))
    assert loaded.mutations["hugo_symbol"].tolist() == ["TP53"]
    assert loaded.germline_mutations["hugo_symbol"].tolist() == ["BRCA1"]
    assert loaded.load_report == {"centre.maf: Mutation_Status=LOH": 1}
    assert isinstance(loaded.germline_mutations, pd.DataFrame)
