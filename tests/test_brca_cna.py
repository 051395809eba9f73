"""Discrete CNA of the HR genes: cBioPortal files (wide and long), study_es_0, the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from icipredict.cohort.cbioportal.cna import HR_GENES, read_cna
from icipredict.cohort.cbioportal.files import find_study_files
from icipredict.cohort.schema import CohortError


def test_wide_file_keeps_hr_genes_and_skips_na(tmp_path: Path) -> None:
    path = tmp_path / "data_cna.txt"
    path.write_text("Hugo_Symbol\tEntrez_Gene_Id\tS1\tS2\n"
                    "BRCA2\t675\t-2\t0\n"
                    "TP53\t7157\t-2\t-1\n"
                    "PALB2\t79728\tNA\t1\n")
    cna = read_cna(path).sort_values(["hugo_symbol", "sample_id"])
    assert cna[["sample_id", "hugo_symbol"]].values.tolist() == [
        ["S1", "BRCA2"], ["S2", "BRCA2"], ["S2", "PALB2"]]
    assert cna["cna"].tolist() == [-2, 0, 1]


def test_bad_value_names_file_row_and_sample(tmp_path: Path) -> None:
    path = tmp_path / "data_cna.txt"
    path.write_text("Hugo_Symbol\tEntrez_Gene_Id\tS1\nBRCA1\t672\t-1.5\n")
    with pytest.raises(CohortError) as err:
        read_cna(path)
    assert err.value.row == 2 and err.value.column == "S1" and "-1.5" in str(err.value)


def test_study_es_0_cna_loads_for_the_hr_genes(shared_data: Path) -> None:
    folder = shared_data / "cbioportal" / "study_es_0"
    files = find_study_files(folder)
    assert [p.name for p in files.cna] == ["data_cna_discrete.txt"]  # from meta_cna_discrete
    raw = pd.read_csv(folder / "data_cna_discrete.txt", sep="\t", dtype=str,
                      keep_default_na=False)
    hr = raw[raw["Hugo_Symbol"].str.upper().isin(HR_GENES) & (raw["Value"] != "NA")]
    cna = read_cna(files.cna[0])
    assert len(cna) == len(hr)  # this study's CNA file holds no HR gene: 0 rows, no error
    every = read_cna(files.cna[0], genes=None)  # the same reader on every gene
    values = raw[raw["Value"] != "NA"]
    assert len(every) == len(values)
    assert int((every["cna"] == -2).sum()) == int((values["Value"] == "-2").sum())
    assert set(every["hugo_symbol"]) == set(values["Hugo_Symbol"])

    from icipredict.cohort.cbioportal import load_cbioportal
    cohort = load_cbioportal(folder)
    assert len(cohort.cna) == len(hr)
    assert set(cohort.cna.columns) >= {"sample_id", "hugo_symbol", "cna"}


def test_cna_table_is_stored_pseudonymised_and_feeds_the_registry(tmp_path: Path) -> None:
    from cohort_factory import make_cohort, sample_ids
    from icipredict.cohort.brca import registry_from_store
    from icipredict.cohort.store import CohortStore

    cohort = make_cohort()
    s1, s3 = sample_ids()[0], sample_ids()[2]
    cohort.cna = pd.DataFrame({"sample_id": [s1, s3, s3], "hugo_symbol": ["BRCA2", "BRCA1",
                                                                          "PALB2"],
                               "cna": pd.array([-1, -2, 0], dtype="Int64")})
    store = CohortStore(tmp_path / "s.duckdb")
    store.ingest(cohort, centre="Alpha", content_hash="h1")
    stored = store.table("cna")
    assert len(stored) == 3 and not stored["sample_id"].isin(sample_ids()).any()
    assert store.versions()["n_cna"].tolist() == [3]
    reg = registry_from_store(store).somatic
    frameshift = reg[reg["variant_classification"] == "Frame_Shift_Del"].iloc[0]
    # p.K3326fs: the BRCA2 C-terminal exception, so no second-hit question despite the loss
    assert frameshift["classification"] == "likely_benign" and pd.isna(frameshift["second_hit"])
    c61g = reg[reg["hgvsp_short"] == "p.C61G"].iloc[0]
    assert c61g["classification"] == "pathogenic" and c61g["rule"] == "curated"
    assert c61g["second_hit"] == "cna_deep_deletion" and c61g["allelic_status"] == "biallelic"
    assert (reg["rule"] == "cna_deep_deletion").sum() == 1
