"""FeatureBuilder: cohort -> patient frame -> features; JSON state; the Chowell RF16 golden test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from icipredict.cohort.schema import Cohort
from icipredict.features.builder import FeatureBuilder, missingness_summary, patient_frame
from icipredict.features.spec import FeatureSpec, read_spec

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "models" / "features"


def _cohort() -> Cohort:
    pids = [f"P{i}" for i in range(1, 9)]
    patients = pd.DataFrame({
        "patient_id": pids,
        "centre": ["A"] * 4 + ["B"] * 4,
        "sex": ["male", "female"] * 4,
        "age": [50.0, 60.0, 70.0, 90.0, 40.0, 55.0, 65.0, 75.0],
        "bmi": [22.0, 25.0, np.nan, 30.0, 21.0, 27.0, 24.0, 26.0],
        "ecog": pd.array([0, 1, 1, 2, 0, 0, 1, None], dtype="Int64"),
        "cancer_type": ["MEL", "MEL", "MEL", "NSCLC", "NSCLC", "NSCLC", "BLCA", "RCC"],
        "stage_iv": pd.array([1, 1, 0, 1, 1, 1, 1, 0], dtype="Int64"),
    })
    labs = pd.DataFrame({
        "patient_id": pids,
        "neutrophils": [6.0, 4.0, 3.0, 8.0, 5.0, np.nan, 4.0, 2.0],
        "lymphocytes": [2.0, 1.0, 1.0, 0.2, 1.0, np.nan, 2.0, 1.0],
        "nlr": [np.nan, np.nan, 2.5, np.nan, np.nan, 7.0, np.nan, np.nan],
        "albumin": [4.0, 3.5, 3.8, 3.0, 4.2, 3.9, 3.7, 4.1],
        "platelets": [250.0, 300.0, 200.0, 180.0, 220.0, 260.0, 240.0, 310.0],
        "haemoglobin": [12.0, 11.0, 13.0, 10.0, 12.5, 11.5, 12.2, 13.1],
        "ldh": [200.0, 250.0, np.nan, 400.0, 180.0, 220.0, 210.0, 190.0],
    })
    treatments = pd.DataFrame({
        "patient_id": pids,
        "drug_class": ["combination", "PD-1/PD-L1", "PD-1/PD-L1", "PD-1/PD-L1", "CTLA-4",
                       "PD-1/PD-L1", "PD-1/PD-L1", "combination"],
        "prior_systemic_therapy": pd.array([0, 1, 0, 1, 1, 0, 1, 0], dtype="Int64"),
    })
    # P8 has no sample; P5-P7 (centre B) have reported TMB only (no MAF from B)
    samples = pd.DataFrame({
        "sample_id": [f"S{i}" for i in range(1, 8)],
        "patient_id": pids[:7],
        "panel": ["MSK-IMPACT468"] * 4 + ["WES"] * 3,
        "panel_size_mb": [1.0, 1.0, 1.0, 1.0, 30.0, 30.0, 30.0],
        "tmb": [np.nan, 5.0, np.nan, np.nan, 12.0, 60.0, 3.0],
        "msi_status": ["MSS", "MSI-H", "MSS", None, "MSS", "MSS", None],
        "msi_score": [0.1, 30.0, 0.5, np.nan, 0.2, 0.3, np.nan],
        "fcna": [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3],
    })
    mutations = pd.DataFrame({
        "sample_id": ["S1", "S1", "S1", "S2", "S3"],
        "hugo_symbol": ["TP53", "BRCA2", "KRAS", "TP53", "EGFR"],
        "variant_classification": ["Missense_Mutation", "Nonsense_Mutation", "Silent",
                                   "Frame_Shift_Del", "Silent"],
    })
    panel_genes = pd.DataFrame({"panel": "MSK-IMPACT468", "hugo_symbol": ["TP53", "KRAS", "EGFR"]})
    return Cohort(patients=patients, labs=labs, treatments=treatments, samples=samples,
                  mutations=mutations, panel_genes=panel_genes)


def _radiomics() -> pd.DataFrame:
    return pd.DataFrame({"radiomics_shape_Volume": [10.0, 20.0, 30.0],
                         "radiomics_glcm_Contrast": [1.0, 2.0, np.nan]},
                        index=pd.Index(["P1", "P2", "P5"], name="patient_id"))


def test_patient_frame_joins_tables_and_genomics():
    frame = patient_frame(_cohort(), _radiomics())
    assert frame.index.name == "patient_id" and len(frame) == 8
    # TMB: computed for centre A (sent the MAF), reported for centre B, missing without sample
    assert frame.loc["P1", "tmb"] == 2.0 and frame.loc["P1", "tmb_source"] == "computed"
    assert frame.loc["P2", "tmb_computed"] == 1.0 and frame.loc["P2", "tmb_reported"] == 5.0
    assert frame.loc["P4", "tmb"] == 0.0                     # centre A sample without variants
    assert frame.loc["P5", "tmb"] == 12.0 and frame.loc["P5", "tmb_source"] == "reported"
    assert np.isnan(frame.loc["P8", "tmb"])
    # flags: a variant seen is a positive call; an off-panel gene without one is missing
    assert frame.loc["P1", "mut_TP53"] == 1.0 and frame.loc["P1", "mut_KRAS"] == 0.0
    assert frame.loc["P1", "mut_BRCA2"] == 1.0
    assert np.isnan(frame.loc["P2", "mut_BRCA2"])
    assert np.isnan(frame.loc["P5", "mut_TP53"])             # centre B sent no MAF
    assert np.isnan(frame.loc["P8", "mut_TP53"])             # no sample
    assert frame.loc["P5", "radiomics_shape_Volume"] == 30.0
    assert np.isnan(frame.loc["P3", "radiomics_shape_Volume"])


def test_full_spec_fit_transform_and_json_roundtrip_single_patient():
    frame = patient_frame(_cohort(), _radiomics())
    spec = read_spec(SPECS / "full.yaml").model_copy(update={"rare_type_min_count": 2})
    builder = FeatureBuilder(spec)
    assert builder.fit(frame) is builder
    train = builder.transform(frame)
    names = list(builder.get_feature_names_out())
    assert names == list(train.columns)
    assert {"cancer_type_MEL", "cancer_type_NSCLC", "cancer_type_other"} <= set(names)
    assert names[-3:] == ["missing_clinical", "missing_genomic", "missing_imaging"]
    assert "radiomics_shape_Volume" in names and "mut_TP53" in names
    assert not train.isna().any().any()                      # median imputation everywhere
    # imputed with the training median, missing modality flagged
    assert train.loc["P3", "radiomics_shape_Volume"] == 20.0
    assert train.loc["P3", "missing_imaging"] == 1.0
    assert train.loc["P1", "missing_imaging"] == 0.0
    assert train.loc["P8", "missing_genomic"] == 1.0         # no sample at all
    assert train.loc["P5", "missing_genomic"] == 0.0
    assert train.loc["P6", "nlr"] == 7.0 and train.loc["P1", "nlr"] == 3.0
    assert train.loc["P7", "cancer_type_other"] == 1.0       # BLCA rarer than 2

    state = builder.to_json()
    parsed = json.loads(state)
    assert parsed["spec"]["name"] == "full"
    assert '"P1"' not in state and '"S1"' not in state       # no patient IDs in the state
    rebuilt = FeatureBuilder.from_json(state)
    for pid in ("P1", "P5", "P8"):
        one = frame.loc[[pid]].reset_index()                 # a single patient's record
        pd.testing.assert_frame_equal(rebuilt.transform(one), train.loc[[pid]])


def _statistics(builder: FeatureBuilder) -> dict:
    """A fitted builder's statistics, as :meth:`FeatureBuilder.from_statistics` takes them."""
    return {"cancer_levels": builder.cancer_levels_,
            "cancer_has_other": builder.cancer_has_other_,
            "drug_class_levels": builder.drug_class_levels_,
            "imaging_columns": builder.imaging_columns_, "medians": builder.medians_,
            "means": builder.means_, "scales": builder.scales_,
            "dropped": builder.empty_columns_}


@pytest.mark.parametrize("scaling", ["none", "standard"])
def test_from_statistics_rebuilds_the_fitted_builder(scaling):
    frame = patient_frame(_cohort(), _radiomics())
    spec = read_spec(SPECS / "full.yaml").model_copy(
        update={"rare_type_min_count": 2, "scaling": scaling})
    fitted = FeatureBuilder(spec).fit(frame)
    assert fitted.empty_columns_  # off-panel genes: no training values, dropped
    rebuilt = FeatureBuilder.from_statistics(spec, **_statistics(fitted))
    assert rebuilt.to_json() == fitted.to_json()
    assert rebuilt.empty_columns_ == fitted.empty_columns_
    pd.testing.assert_frame_equal(rebuilt.transform(frame), fitted.transform(frame))
    # a statistic of a dropped column is ignored, as fit has none for it
    stats = _statistics(fitted)
    stats["medians"] = {**fitted.medians_, fitted.empty_columns_[0]: 1.0}
    assert FeatureBuilder.from_statistics(spec, **stats).to_json() == fitted.to_json()


def test_encoded_values_are_every_column_before_imputation_and_scaling():
    frame = patient_frame(_cohort(), _radiomics())
    spec = read_spec(SPECS / "full.yaml").model_copy(
        update={"rare_type_min_count": 2, "scaling": "standard", "caps": {"tmb": 50, "age": 85}})
    builder = FeatureBuilder(spec).fit(frame)
    encoded = builder.encoded_values(frame)
    assert encoded.index.equals(frame.index)
    # the model's value columns in order, with the columns dropped for lack of training values
    values = [c for c in builder.feature_names_out_ if not c.startswith("missing_")]
    assert [c for c in encoded.columns if c not in builder.empty_columns_] == values
    assert set(builder.empty_columns_) <= set(encoded.columns)
    assert encoded[builder.empty_columns_].isna().all().all()
    # caps applied, nothing imputed or scaled
    assert encoded.loc["P4", "age"] == 85.0 and encoded.loc["P6", "tmb"] == 50.0
    assert encoded.loc["P1", "albumin"] == 4.0 and np.isnan(encoded.loc["P8", "tmb"])
    assert encoded.loc["P7", "cancer_type_other"] == 1.0
    # the fitted statistics are these columns' statistics (scaling after median imputation)
    for c in ("age", "tmb", "albumin"):
        assert builder.medians_[c] == encoded[c].median()
        assert builder.means_[c] == pytest.approx(encoded[c].fillna(encoded[c].median()).mean())
    # a single record gives its row, and the builder's fitted state is untouched
    before = (builder.to_json(), list(builder.empty_columns_))
    one = builder.encoded_values(frame.loc[["P5"]].reset_index())
    pd.testing.assert_frame_equal(one, encoded.loc[["P5"]])
    assert (builder.to_json(), builder.empty_columns_) == before


def test_missing_genomic_when_no_sample_and_no_genomic_values():
    frame = patient_frame(_cohort())
    spec = FeatureSpec(name="g", modalities=["clinical", "genomic"], genomic=["tmb", "fcna"],
                       genes=["TP53"], missing_indicators=True)
    out = FeatureBuilder(spec).fit_transform(frame)
    assert out.loc["P8", "missing_genomic"] == 1.0
    assert out.loc["P5", "missing_genomic"] == 0.0
    assert np.isnan(out.loc["P8", "tmb"])                    # imputation: none keeps NaN


def test_loris_spec_caps_then_scales():
    frame = patient_frame(_cohort())
    builder = FeatureBuilder(SPECS / "loris.yaml").fit(frame)
    out = builder.transform(frame)
    raw_age = frame["age"].clip(upper=85)
    assert builder.means_["age"] == pytest.approx(raw_age.mean())
    assert out["age"].to_numpy() == pytest.approx(((raw_age - raw_age.mean())
                                                   / raw_age.std(ddof=0)).to_numpy())
    assert builder.means_["tmb"] == pytest.approx(frame["tmb"].clip(upper=50).mean())
    cancer = [n for n in builder.get_feature_names_out() if n.startswith("cancer_type_")]
    assert cancer == ["cancer_type_BLCA", "cancer_type_MEL", "cancer_type_NSCLC",
                      "cancer_type_RCC"]


def test_unseen_cancer_type_goes_to_other_in_a_single_record():
    frame = patient_frame(_cohort())
    spec = FeatureSpec(name="c", modalities=["clinical"], clinical=["age"],
                       rare_type_min_count=3)
    builder = FeatureBuilder(spec).fit(frame)
    record = pd.DataFrame([{"patient_id": "new", "cancer_type": "Sarcoma", "age": 61.0}])
    out = builder.transform(record)
    assert out.loc["new", "cancer_type_other"] == 1.0
    assert out.loc["new", ["cancer_type_MEL", "cancer_type_NSCLC"]].tolist() == [0.0, 0.0]


def test_sklearn_contract():
    builder = FeatureBuilder(SPECS / "rf16.yaml")
    assert builder.get_params() == {"spec": SPECS / "rf16.yaml"}
    with pytest.raises(NotFittedError):
        builder.transform(pd.DataFrame({"age": [1.0]}))
    fitted = builder.fit(patient_frame(_cohort()))
    assert not hasattr(clone(fitted), "feature_names_out_")


def test_missingness_summary_per_centre():
    frame = patient_frame(_cohort())
    feats = FeatureBuilder(SPECS / "rf16.yaml").fit_transform(frame)
    summary = missingness_summary(feats, frame["centre"])
    assert summary.loc["tmb", "all"] == pytest.approx(1 / 8)
    assert summary.loc["tmb", "B"] == pytest.approx(1 / 4) and summary.loc["tmb", "A"] == 0


# --------------------------------------------------------------------------------------------
# Golden test: the Chowell 2022 RF16 inputs, column by column against the paper's CSV
# --------------------------------------------------------------------------------------------

RF16_COLUMNS = {  # builder column -> paper column
    "prior_systemic_therapy": "Chemo_before_IO (1:Yes; 0:No)",
    "age": "Age",
    "sex_male": "Sex (1:Male; 0:Female)",
    "bmi": "BMI",
    "stage_iv": "Stage (1:IV; 0:I-III)",
    "nlr": "NLR",
    "platelets": "Platelets",
    "haemoglobin": "HGB",
    "albumin": "Albumin",
    "drug_combination": "Drug (1:Combo; 0:PD1/PDL1orCTLA4)",
    "tmb": "TMB",
    "fcna": "FCNA",
    "hed": "HED",
    "hla_loh": "HLA_LOH",
    "msi_high": "MSI (1:Unstable; 0:Stable_Indeterminate)",
    "msi_score": "MSI_SCORE",
    "cancer_group": "Cancer_Type2",
}


@pytest.mark.realdata
def test_rf16_reproduces_chowell_columns(chowell_dir):
    loaders = pytest.importorskip("icipredict.cohort.loaders")
    if not hasattr(loaders, "load_column_map"):
        pytest.skip("cohort.loaders.load_column_map not available yet")
    cmap = REPO / "experiments" / "cohorts" / "chowell2022_train.yaml"
    if not cmap.is_file():
        pytest.skip(f"{cmap} not written yet")
    cohort = loaders.load_column_map(cmap, data_dir=chowell_dir.parents[1])  # shared/data
    frame = patient_frame(cohort)
    feats = FeatureBuilder(SPECS / "rf16.yaml").fit_transform(frame)
    assert list(feats.columns) == list(RF16_COLUMNS)
    raw = pd.read_csv(chowell_dir / "chowell2022_train.csv")
    raw.index = raw["SAMPLE_ID"].astype(str)
    assert len(feats) == len(raw)
    feats = feats.reindex(raw.index)
    assert feats.notna().all().all()
    for ours, theirs in RF16_COLUMNS.items():
        np.testing.assert_allclose(feats[ours].to_numpy(), raw[theirs].to_numpy(dtype=float),
                                   rtol=1e-12, atol=0, err_msg=f"{ours} vs {theirs}")


def test_cli_features_build(tmp_path):
    from typer.testing import CliRunner

    from icipredict.cli import app
    from icipredict.cohort.store import CohortStore

    store = tmp_path / "store.duckdb"
    cohort = _cohort()
    cohort.patients["centre"] = "A"
    CohortStore(store).ingest(cohort, centre="A", content_hash="x" * 64, source="test")
    out = tmp_path / "features.parquet"
    result = CliRunner().invoke(app, ["features", "build", "--config", str(SPECS / "full.yaml"),
                                      "--store", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    feats = pd.read_parquet(out)
    assert len(feats) == 8 and "missing_genomic" in feats.columns
    assert "Fraction missing" in result.output
    rebuilt = FeatureBuilder.from_json(out.with_suffix(".builder.json").read_text())
    assert list(rebuilt.get_feature_names_out()) == list(feats.columns)
    bad = CliRunner().invoke(app, ["features", "build", "--config", str(tmp_path / "nope.yaml"),
                                   "--store", str(store), "--out", str(out)])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_patient_frame_reads_the_representative_sample_whatever_the_sample_order():
    """Two samples of one patient: the larger sequenced territory represents the patient, in
    any order of the samples table (the store lists them in pseudonym order, which changes
    with the installation's key)."""
    cohort = _cohort()
    extra = pd.DataFrame({"sample_id": ["S9"], "patient_id": ["P5"], "panel": ["MSK-IMPACT468"],
                          "panel_size_mb": [1.0], "tmb": [99.0], "msi_status": ["MSI-H"],
                          "msi_score": [40.0], "fcna": [0.9]})
    frames = []
    for samples in (pd.concat([cohort.samples, extra]), pd.concat([extra, cohort.samples])):
        cohort.samples = samples.reset_index(drop=True)
        frames.append(patient_frame(cohort))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[0].loc["P5", "tmb"] == 12.0  # the 30 Mb exome, not the 1 Mb panel's 99
    assert frames[0].loc["P5", "msi_score"] == 0.2
