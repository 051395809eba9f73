"""Genomic features: TMB definition, gene flags (not profiled = missing), fast MAF reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from icipredict.cohort.schema import CohortError
from icipredict.features import genomic as g

# A hand-made MAF: per sample, the variant classes and whether cBioPortal counts them.
VARIANTS = [
    # sample, gene, class
    ("S1", "TP53", "Missense_Mutation"),        # counts
    ("S1", "TP53", "Nonsense_Mutation"),        # counts
    ("S1", "KRAS", "Silent"),                   # no
    ("S1", "EGFR", "Splice_Region"),            # counts (cBioPortal list)
    ("S1", "PTEN", "Intron"),                   # no
    ("S1", "STK11", "Translation_Start_Site"),  # no (not in cBioPortal's list)
    ("S1", "ARID1A", "Frame_Shift_Del"),        # counts
    ("S2", "BRCA2", "In_Frame_Ins"),            # counts
    ("S2", "KEAP1", "3'UTR"),                   # no
    ("S3", "TP53", "Silent"),                   # no -> sequenced, TMB 0
]
S1_COUNT, S2_COUNT, S3_COUNT = 4, 1, 0  # counted by hand from the table above


def _mutations() -> pd.DataFrame:
    return pd.DataFrame(VARIANTS, columns=["sample_id", "hugo_symbol", "variant_classification"])


def _samples() -> pd.DataFrame:
    return pd.DataFrame({
        "sample_id": ["S1", "S2", "S3", "S4", "S5"],
        "patient_id": ["P1", "P2", "P3", "P4", "P5"],
        "panel": ["MSK-IMPACT468", "WES", "MSK-IMPACT468", "MSK-IMPACT468", "TINY"],
        "panel_size_mb": [1.22, np.nan, 1.22, 1.22, 0.1],
        "tmb": [3.0, 0.05, np.nan, 2.0, np.nan],
    })


def _panel_genes() -> pd.DataFrame:
    genes = ["TP53", "KRAS", "EGFR", "PTEN", "STK11", "ARID1A", "KEAP1"]  # no BRCA2 on it
    return pd.DataFrame({"panel": "MSK-IMPACT468", "hugo_symbol": genes})


def _write_maf(path, mutations: pd.DataFrame) -> None:
    maf = mutations.rename(columns={v: k for k, v in g.MAF_COLUMNS.items()})
    maf.insert(1, "Entrez_Gene_Id", 0)
    maf["Chromosome"] = "1"
    maf["Start_Position"] = np.arange(len(maf)) + 100
    with open(path, "w") as fh:
        fh.write("#version 2.4\n")
        maf.to_csv(fh, sep="\t", index=False)


def test_tmb_from_generated_maf_equals_hand_count(tmp_path):
    path = tmp_path / "small.maf"
    _write_maf(path, _mutations())
    muts = g.read_maf_fast(path)
    assert list(muts.columns) == ["sample_id", "hugo_symbol", "variant_classification"]
    tmb = g.compute_tmb(muts, _samples())
    assert tmb.loc["S1", "n_nonsynonymous"] == S1_COUNT
    assert tmb.loc["S1", "tmb_computed"] == pytest.approx(S1_COUNT / 1.22)
    # WES without panel_size_mb: territory from the panel name (30 Mb)
    assert tmb.loc["S2", "tmb_computed"] == pytest.approx(S2_COUNT / 30.0)
    # sequenced, only a silent variant -> 0, not missing
    assert tmb.loc["S3", "tmb_computed"] == S3_COUNT
    # never sequenced -> missing, not 0
    assert np.isnan(tmb.loc["S4", "tmb_computed"])
    # the DuckDB streaming count agrees with the DataFrame count
    duck = g.maf_nonsynonymous_counts(path)
    assert duck.to_dict() == {"S1": S1_COUNT, "S2": S2_COUNT}


def test_tmb_not_computed_on_tiny_territory():
    muts = pd.concat([_mutations(), pd.DataFrame(
        [("S5", "TP53", "Missense_Mutation")],
        columns=["sample_id", "hugo_symbol", "variant_classification"])])
    tmb = g.compute_tmb(muts, _samples())
    assert tmb.loc["S5", "n_nonsynonymous"] == 1
    assert np.isnan(tmb.loc["S5", "tmb_computed"])  # 0.1 Mb < 0.2 Mb


def test_class_set_is_cbioportal_nonsynonymous():
    assert "Splice_Region" in g.NONSYNONYMOUS_CLASSES
    assert "Silent" not in g.NONSYNONYMOUS_CLASSES
    assert "Translation_Start_Site" not in g.NONSYNONYMOUS_CLASSES
    assert len(g.NONSYNONYMOUS_CLASSES) == 9


def test_gene_flags_not_profiled_is_missing_not_zero():
    pg = _panel_genes()
    flags = g.gene_flags(_mutations(), _samples(), pg, ["TP53", "KRAS", "BRCA2", "STK11"])
    assert flags.loc["S1", "mut_TP53"] == 1.0
    assert flags.loc["S1", "mut_KRAS"] == 0.0            # silent only: profiled wild type
    assert flags.loc["S1", "mut_STK11"] == 0.0           # Translation_Start_Site not counted
    assert np.isnan(flags.loc["S1", "mut_BRCA2"])        # BRCA2 not on MSK-IMPACT468 here
    assert flags.loc["S2", "mut_BRCA2"] == 1.0           # WES: no panel rows -> genome-wide
    assert flags.loc["S2", "mut_TP53"] == 0.0
    assert flags.loc["S3", "mut_TP53"] == 0.0
    assert flags[["mut_TP53", "mut_KRAS"]].loc["S4"].isna().all()  # not sequenced


def test_gene_flags_unknown_panel_only_positive_calls():
    samples = _samples().assign(panel=[None, "WES", "MSK-IMPACT468", "MSK-IMPACT468", "TINY"])
    flags = g.gene_flags(_mutations(), samples, _panel_genes(), ["TP53", "KRAS"])
    assert flags.loc["S1", "mut_TP53"] == 1.0
    assert np.isnan(flags.loc["S1", "mut_KRAS"])


def test_sequenced_samples_by_centre():
    patients = pd.DataFrame({"patient_id": ["P1", "P2", "P3", "P4", "P5"],
                             "centre": ["A", "B", "A", "A", "C"]})
    seq = g.sequenced_samples(_mutations(), _samples(), patients)
    # S4 is at centre A, which sent a MAF: sequenced with no variant; S5 (centre C) is not
    assert list(seq) == ["S1", "S2", "S3", "S4"]
    out = g.sample_genomics(_mutations(), _samples(), _panel_genes(), patients=patients,
                            genes=["TP53"])
    assert out.loc["S4", "tmb_computed"] == 0.0
    assert out.loc["S4", "tmb_reported"] == 2.0
    assert out.loc["S4", "tmb"] == 0.0 and out.loc["S4", "tmb_source"] == "computed"
    assert out.loc["S4", "mut_TP53"] == 0.0
    assert np.isnan(out.loc["S5", "tmb"]) and out.loc["S5", "tmb_source"] is None


def test_tmb_falls_back_to_reported():
    samples = _samples()
    out = g.sample_genomics(_mutations().iloc[:0], samples, _panel_genes(), genes=["TP53"])
    assert out["tmb"].tolist()[:2] == [3.0, 0.05]
    assert set(out["tmb_source"].dropna()) == {"reported"}
    assert out["mut_TP53"].isna().all()  # no MAF at all: nothing profiled


@pytest.mark.parametrize("drop", [["panel", "panel_size_mb"], ["panel_size_mb"]])
def test_tmb_without_size_columns_is_missing_with_a_warning(drop, caplog):
    """No panel size given at all: TMB is the reported one or missing, never a crash, never 0."""
    samples = _samples().drop(columns=drop)
    with caplog.at_level("WARNING", logger="icipredict.features.genomic"):
        out = g.sample_genomics(_mutations(), samples, _panel_genes(), genes=["TP53"])
    if "panel" in samples.columns:  # the panel name still gives the size (WES, IMPACT468)
        assert out.loc["S1", "tmb_computed"] == pytest.approx(S1_COUNT / 1.22, rel=0.05)
        assert out.loc["S5", "tmb_source"] is None  # TINY: unknown size, no reported TMB
    else:
        assert out["tmb_computed"].isna().all()
        assert out["tmb"].tolist()[:2] == [3.0, 0.05]  # the reported values
        assert "no panel size" in caplog.text
    assert out.loc["S1", "mut_TP53"] == 1.0  # a positive call needs no panel


def test_compute_tmb_wes_panel_without_size_column():
    samples = _samples().drop(columns=["panel_size_mb"]).assign(panel="WES")
    out = g.compute_tmb(_mutations(), samples)
    wes = g.panel_size_mb("WES")
    assert out.loc["S1", "tmb_computed"] == pytest.approx(S1_COUNT / wes)
    assert out.loc["S3", "tmb_computed"] == 0.0  # sequenced, no eligible variant
    assert np.isnan(out.loc["S4", "tmb_computed"])  # no MAF row: not known to be sequenced


def test_tmb_agreement_matches_independent_statistics():
    rng = np.random.default_rng(0)
    reported = pd.Series(rng.gamma(2, 4, 50), index=[f"S{i}" for i in range(50)])
    computed = reported * 1.1 + rng.normal(0, 0.5, 50)
    computed.iloc[:5] = np.nan  # unpaired samples are ignored
    a = g.tmb_agreement(computed, reported)
    c, r = computed.iloc[5:], reported.iloc[5:]
    assert a.n == 45
    assert a.pearson == pytest.approx(np.corrcoef(c, r)[0, 1])
    assert a.spearman == pytest.approx(stats.spearmanr(c, r).statistic)
    assert a.median_abs_diff == pytest.approx(np.median(np.abs(c - r)))
    assert a.bias == pytest.approx(np.mean(c - r))
    assert a.loa_high - a.loa_low == pytest.approx(2 * 1.96 * np.std(c - r, ddof=1))
    assert g.tmb_agreement(pd.Series([1.0]), pd.Series([2.0])).n == 1


def test_read_maf_fast_errors(tmp_path):
    with pytest.raises(CohortError, match="not found"):
        g.read_maf_fast(tmp_path / "absent.maf")
    path = tmp_path / "bad.maf"
    path.write_text("Hugo_Symbol\tTumor_Sample_Barcode\nTP53\tS1\n")
    with pytest.raises(CohortError, match="Variant_Classification"):
        g.read_maf_fast(path)


def test_maftools_laml_reference_counts(shared_data):
    """maftools' documented tmb() output on TCGA-LAML (its nonsynonymous set, 50 Mb)."""
    path = shared_data / "genomics" / "maftools" / "tcga_laml.maf.gz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    muts = g.read_maf_fast(path)
    counts = g.nonsynonymous_counts(muts, g.MAFTOOLS_CLASSES)
    # from maftools' tmb() help page example output (total per sample)
    assert counts["TCGA-AB-3009"] == 34
    assert counts["TCGA-AB-2807"] == 25
    assert counts["TCGA-AB-2959"] == 23
    assert counts["TCGA-AB-3002"] == 21
    assert counts["TCGA-AB-2834"] == 1
    plain = pd.read_csv(path, sep="\t", comment="#", low_memory=False)
    ref = plain[plain["Variant_Classification"].isin(g.NONSYNONYMOUS_CLASSES)] \
        .groupby("Tumor_Sample_Barcode").size()
    duck = g.maf_nonsynonymous_counts(path)
    assert duck.to_dict() == ref.to_dict()
