"""Clinical features: NLR from counts, binary codings, cancer-type grouping, caps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icipredict.features import clinical as c


def test_nlr_from_counts_only_where_missing():
    frame = pd.DataFrame({"nlr": [3.0, np.nan, np.nan, np.nan],
                          "neutrophils": [9.0, 6.0, 5.0, np.nan],
                          "lymphocytes": [1.0, 1.5, 0.0, 2.0]})
    out = c.nlr(frame)
    assert out.iloc[0] == 3.0                 # given value wins over counts (9/1)
    assert out.iloc[1] == pytest.approx(4.0)  # computed 6 / 1.5
    assert np.isnan(out.iloc[2])              # lymphocytes 0 -> missing, not inf
    assert np.isnan(out.iloc[3])


def test_nlr_without_nlr_column():
    out = c.nlr(pd.DataFrame({"neutrophils": [4.0], "lymphocytes": [2.0]}))
    assert out.iloc[0] == 2.0


def test_clinical_columns_codings():
    frame = pd.DataFrame({
        "sex": ["male", "female", None],
        "drug_class": ["combination", "PD-1/PD-L1", None],
        "stage_iv": pd.array([1, 0, None], dtype="Int64"),
        "age": [50.0, 60.0, 70.0],
    })
    out = c.clinical_columns(frame, ["sex", "drug_combination", "stage_iv", "age", "drug_class",
                                     "albumin"],
                             drug_class_levels=["PD-1/PD-L1", "combination"])
    assert list(out.columns) == ["sex_male", "drug_combination", "stage_iv", "age",
                                 "drug_class_PD_1_PD_L1", "drug_class_combination", "albumin"]
    assert out["sex_male"].tolist()[:2] == [1.0, 0.0] and np.isnan(out["sex_male"].iloc[2])
    assert out["drug_combination"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(out["drug_combination"].iloc[2])
    assert out["drug_class_combination"].tolist()[:2] == [1.0, 0.0]
    assert out["albumin"].isna().all()  # absent column -> missing
    with pytest.raises(ValueError, match="unknown clinical feature"):
        c.clinical_columns(frame, ["height"])


def test_rare_cancer_types_grouped_at_fit():
    train = pd.Series(["Melanoma"] * 5 + ["NSCLC"] * 4 + ["Bladder"] * 2 + ["Glioma"])
    levels, has_other = c.fit_cancer_levels(train, min_count=3)
    assert levels == ["MEL", "NSCLC"] and has_other
    new = pd.Series(["melanoma", "Bladder", "Sarcoma", "NSCLC"])
    enc = c.encode_cancer_type(new, encoding="onehot", levels=levels, has_other=has_other)
    assert list(enc.columns) == ["cancer_type_MEL", "cancer_type_NSCLC", "cancer_type_other"]
    np.testing.assert_array_equal(enc.to_numpy(), [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0]])


def test_chowell_group_encoding():
    enc = c.encode_cancer_type(pd.Series(["Melanoma", "NSCLC", "Renal", "Head & Neck"]),
                               encoding="chowell_group")
    assert enc["cancer_group"].tolist() == [0.0, 1.0, 2.0, 2.0]


def test_loris_caps():
    df = pd.DataFrame({"tmb": [10.0, 80.0], "nlr": [30.0, 2.0], "age": [90.0, 40.0],
                       "albumin": [5.0, 6.0]})
    out = c.apply_caps(df, c.LORIS_CAPS)
    assert out["tmb"].tolist() == [10.0, 50.0]
    assert out["nlr"].tolist() == [25.0, 2.0]
    assert out["age"].tolist() == [85.0, 40.0]
    assert out["albumin"].tolist() == [5.0, 6.0]
