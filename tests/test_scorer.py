"""Board scoring through the registry/pyfunc contract (a stand-in model with that contract)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from board_model import RISK_CUTS, expected_probability, setup_registry
from icipredict.predict.record import RecordError
from icipredict.predict.scorer import (
    BoardScore,
    finite,
    load_board_model,
    risk_group,
    score,
    score_batch,
    scores_table,
)

PATIENT = {"patient_id": "P1", "cancer_type": "NSCLC", "albumin": {"value": 38, "unit": "g/L"},
           "tmb": 20, "nlr": 3, "age": 70, "drug": "pembrolizumab", "sex": "female",
           "ecog": 1, "stage_iv": "IV", "bmi": 24, "platelets": 250, "haemoglobin": 12.5,
           "ldh": 200, "prior_systemic_therapy": 0, "msi_status": "MSS", "fcna": 0.2, "hed": 6}


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory):
    return setup_registry(tmp_path_factory.mktemp("registry"))


def test_score_follows_the_model_and_explains(model_uri):
    s = score(PATIENT, model_uri)
    p = expected_probability(20, 3.8, 3, 70)
    assert s.response.probability == pytest.approx(p)
    assert s.response.ci_low < p < s.response.ci_high
    assert s.response.per_100 == round(100 * p)
    lo, hi = round(100 * s.response.ci_low), round(100 * s.response.ci_high)
    # a chance with its interval, not a count of responders among 100 patients (issue 12)
    assert s.response.meaning == (f"Estimated chance of response {round(100 * p)}% "
                                  f"(95% interval {lo}\u2013{hi}%).")
    assert "Of 100" not in s.response.meaning
    assert s.reasons[0].feature == "tmb" and s.reasons[0].direction == "raises"
    assert s.reasons[0].text == "TMB 20 mut/Mb — raises the chance of response"
    # albumin 3.8 g/dL sits at the mean: no contribution, so not a reason
    assert [r.feature for r in s.reasons] == ["tmb", "nlr", "age"]
    assert s.model.name == "icipredict" and s.model.version == "1"
    assert s.model.alias == "champion" and s.model.card_link
    assert not s.warnings  # complete, in-domain record
    assert s.missing_modalities == []


def test_survival_curves_and_medians(model_uri):
    s = score(PATIENT, model_uri)
    surv = [pt.survival for pt in s.os.curve]
    assert surv[0] == 1.0 and all(a >= b for a, b in zip(surv, surv[1:], strict=False))
    assert s.os.at_12m.month == 12 and s.os.at_24m.survival < s.os.at_12m.survival
    rate = -math.log(s.os.at_12m.survival) / 12
    if s.os.median_months is not None:
        assert s.os.median_months == pytest.approx(math.log(2) / rate)
    # PFS falls faster than OS in the stand-in; median PFS is reached
    assert s.pfs.at_12m.survival < s.os.at_12m.survival
    assert s.pfs.median_reached


def test_median_not_reached_is_null_in_json(model_uri):
    good = {**PATIENT, "tmb": 55, "albumin": 4.8, "nlr": 1, "age": 40}
    s = score(good, model_uri)
    assert s.os.median_months is None and not s.os.median_reached
    text = s.to_json()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["os"]["median_months"] is None
    assert json.loads(text)["schema_version"] == "1.0"


def test_warnings_domain_range_and_missing_modality(model_uri):
    odd = {"patient_id": "X", "cancer_type": "PAAD", "drug": "ipilimumab", "age": 95,
           "albumin": 3.5}
    s = score(odd, model_uri)
    codes = [w.code for w in s.warnings]
    assert "cancer_type_unseen" in codes and "drug_class_unseen" in codes
    assert any(w.code == "value_out_of_range" and "age = 95" in w.message for w in s.warnings)
    assert s.missing_modalities == ["genomic"]
    assert any(w.code == "modality_missing" and "No genomic data" in w.message
               for w in s.warnings)
    assert s.completeness["genomic"] == 0


def test_risk_group_uses_training_tertiles():
    rg = {"cut_points": RISK_CUTS, "labels": ["low", "intermediate", "high"]}
    assert risk_group(-1.0, rg).group == "low"
    assert risk_group(RISK_CUTS[0], rg).group == "intermediate"
    assert risk_group(RISK_CUTS[1], rg).group == "high"
    assert risk_group(None, rg).group is None
    assert risk_group(0.0, {}).group is None


def test_batch_sorted_and_table(model_uri, tmp_path):
    path = tmp_path / "week.csv"
    path.write_text("patient_id,cancer_type,tmb,albumin,nlr,age\n"
                    "A,MEL,2,30 g/L,8,80\nB,NSCLC,40,4.2,2,55\nC,BLCA,10,3.9,4,66\n")
    scores = score_batch(path, model_uri)
    assert [s.patient_id for s in scores] == ["B", "C", "A"]
    probs = [s.response.probability for s in scores]
    assert probs == sorted(probs, reverse=True)
    single = score({"patient_id": "C", "cancer_type": "BLCA", "tmb": 10, "albumin": 3.9,
                    "nlr": 4, "age": 66}, model_uri)
    assert scores[1].response.probability == pytest.approx(single.response.probability)
    table = scores_table(scores)
    assert list(table["rank"]) == [1, 2, 3] and table.loc[0, "patient_id"] == "B"
    assert table["model"].iloc[0] == "icipredict@champion"


def test_bad_records_fail_before_scoring(model_uri):
    with pytest.raises(RecordError) as info:
        score_batch([{"cancer_type": "MEL"}, {"cancer_type": "nope", "age": -3}], model_uri)
    assert len(info.value.problems) == 2


def test_model_is_cached(model_uri):
    assert load_board_model(model_uri) is load_board_model(model_uri)


def test_finite_and_json_roundtrip(model_uri):
    assert finite({"a": [float("nan"), float("inf"), 1.0]}) == {"a": [None, None, 1.0]}
    s = score(PATIENT, model_uri)
    again = BoardScore.model_validate_json(s.to_json())
    assert again.response.probability == pytest.approx(s.response.probability)


# ------------------------------------------------------------------------ patients of the store


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    from board_store import small_store

    return small_store(tmp_path_factory)


def _some_patients(stored) -> list[str]:
    """One patient per centre, plus one with image files and one with a precomputed table."""
    co = stored["cohort"]
    ids = list(co.patients.groupby("centre")["patient_id"].first())
    im = co.imaging
    ids.append(im.loc[im["image_uri"].notna(), "patient_id"].iloc[0])
    ids.append(im.loc[im["radiomics_uri"].notna(), "patient_id"].iloc[0])
    return list(dict.fromkeys(ids))


def test_stored_frame_is_the_training_frame(stored):
    """Each stored patient's model input equals its row of the training frame (patient_frame
    of the whole cohort with the training radiomics): TMB, gene flags, labs, radiomics."""
    from icipredict.features.builder import patient_frame
    from icipredict.predict.record import FRAME_COLUMNS
    from icipredict.predict.scorer import stored_patient

    full = patient_frame(stored["cohort"], stored["radiomics"])
    rad_cols = [c for c in full.columns if c.startswith("radiomics_")]
    assert rad_cols
    cols = [c for c in FRAME_COLUMNS if c != "start_date"] + rad_cols
    n_imaged = 0
    # every imaged patient (images and precomputed tables) and every other non-imaged one
    imaged = set(stored["radiomics"].index)
    rest = sorted(set(full.index) - imaged)[::2]
    for pid in sorted(imaged) + rest:
        _, frame, n_err = stored_patient(stored["store"], pid, cache_dir=stored["cache"])
        assert n_err == 0 and list(frame.index) == [pid]
        got = frame.reindex(columns=cols).iloc[0].astype(object)
        want = full.loc[pid].reindex(cols).astype(object)
        assert [None if pd.isna(v) else v for v in got] == \
            [None if pd.isna(v) else v for v in want], pid
        n_imaged += bool(want[rad_cols].notna().any())
    assert n_imaged >= 10


def test_score_by_id_equals_the_equivalent_record(model_uri, stored):
    from icipredict.demo import patient_record
    from icipredict.predict.scorer import UnknownPatientError, score_stored

    for pid in _some_patients(stored):
        by_id = score_stored(pid, stored["store"], model_uri, cache_dir=stored["cache"])
        record = patient_record(stored["cohort"], pid, stored["radiomics"])
        by_record = score(record, model_uri)
        assert by_id.patient_id == pid
        a, b = by_id.to_dict(), by_record.to_dict()
        for key in ("response", "os", "pfs", "risk", "completeness", "missing_modalities",
                    "cancer_type", "drug_class", "model"):
            assert a[key] == b[key], (pid, key)
        assert [w["code"] for w in a["warnings"]] == [w["code"] for w in b["warnings"]]
        assert [r["feature"] for r in a["reasons"]] == [r["feature"] for r in b["reasons"]]
    # score() dispatches a bare ID to the store
    pid = _some_patients(stored)[-1]
    assert score(pid, model_uri, store=stored["store"]).to_dict()["response"] == \
        score_stored(pid, stored["store"], model_uri).to_dict()["response"]
    with pytest.raises(UnknownPatientError, match="not in the cohort store"):
        score_stored("P-doesnotexist", stored["store"], model_uri)


def test_store_query_includes_radiomics(model_uri, stored, monkeypatch):
    """The weekly store query hands the model the same radiomics as training."""
    from icipredict.predict import scorer

    bm = scorer.load_board_model(model_uri)
    seen = {}
    original = bm.predict

    def spy(frame, **kw):
        seen["frame"] = frame.copy()
        return original(frame, **kw)

    monkeypatch.setattr(bm, "predict", spy)
    monkeypatch.setattr(bm, "input_columns", None)
    ids = _some_patients(stored)
    out = scorer.score_store(stored["store"], ids, model=model_uri, cache_dir=stored["cache"])
    assert sorted(out["patient_id"]) == sorted(ids)
    frame = seen["frame"]
    want = stored["radiomics"].reindex(frame.index)
    pd.testing.assert_frame_equal(frame[want.columns], want, check_names=False)


def test_find_patients_applies_every_condition(stored, tmp_path):
    """The store query equals the same filter done by hand on the stored tables."""
    import shutil

    import duckdb

    from icipredict.cohort.schema import CohortError
    from icipredict.cohort.store import CohortStore

    co = stored["cohort"]
    store = CohortStore(stored["store"])
    pats = co.patients.merge(co.treatments[["patient_id", "start_date"]], on="patient_id",
                             how="left")
    assert store.find_patients() == sorted(
        pats["patient_id"], key=lambda p: (pats.set_index("patient_id").loc[p, "centre"], p))
    start = pd.to_datetime(pats["start_date"])
    anchor = pats[start.notna()].iloc[len(pats) // 3]  # a window around one patient's start
    centre, types = anchor["centre"], [anchor["cancer_type"], "MEL"]
    lo, hi = pd.Timestamp(anchor["start_date"]) - pd.Timedelta(days=400), \
        pd.Timestamp(anchor["start_date"]) + pd.Timedelta(days=400)
    want = pats.loc[(pats["centre"] == centre) & pats["cancer_type"].isin(types)
                    & (start >= lo) & (start <= hi), "patient_id"]
    got = store.find_patients(centres=[centre], cancer_types=types,
                              started_from=lo.date().isoformat(), started_to=hi.date())
    assert got == sorted(want) and anchor["patient_id"] in got
    assert len(store.find_patients(started_from="2000-01-01")) == int(start.notna().sum())
    some = list(pats["patient_id"].iloc[:5])
    assert store.find_patients(patient_ids=some + some[:1]) == \
        [p for p in store.find_patients() if p in some]
    with pytest.raises(CohortError, match=r"not in the cohort store: \['P-nobody'\]"):
        store.find_patients(patient_ids=[some[0], "P-nobody"])
    with pytest.raises(CohortError, match="started_from must be a day as YYYY-MM-DD"):
        store.find_patients(started_from="1/2/2016")
    with pytest.raises(CohortError, match=r"centre\(s\) \['Atlantis'\] not in the store"):
        store.find_patients(centres=["Atlantis"])
    # New patients have no outcome yet: clear two patients' outcomes in a copy of the store.
    copy = tmp_path / "copy.duckdb"
    shutil.copy(stored["store"], copy)
    con = duckdb.connect(str(copy))
    con.execute("UPDATE outcomes SET bor = NULL, responder = NULL, os_months = NULL, "
                "os_event = NULL, pfs_months = NULL, pfs_event = NULL WHERE patient_id = ?",
                [some[0]])
    con.execute("DELETE FROM outcomes WHERE patient_id = ?", [some[1]])
    con.close()
    assert CohortStore(copy).find_patients(without_outcome=True) == \
        [p for p in store.find_patients() if p in some[:2]]


def test_weekly_list_from_a_store_query_scores_as_each_patient_alone(model_uri, stored):
    from icipredict.predict.scorer import StoreQuery, score_store_list, score_stored

    ids = _some_patients(stored)
    scores = score_store_list(stored["store"], StoreQuery(patient_ids=ids), model_uri,
                              explain=True, top_k=5, cache_dir=stored["cache"])
    assert sorted(s.patient_id for s in scores) == sorted(ids)
    probs = [s.response.probability for s in scores]
    assert probs == sorted(probs, reverse=True)  # the board's order
    for s in scores:
        alone = score_stored(s.patient_id, stored["store"], model_uri, top_k=5,
                             cache_dir=stored["cache"]).to_dict()
        got = s.to_dict()
        for key in ("response", "os", "pfs", "risk", "reasons", "warnings", "completeness",
                    "missing_modalities", "cancer_type", "drug_class"):
            assert got[key] == alone[key], (s.patient_id, key)
    centre = stored["cohort"].patients["centre"].iloc[0]
    by_centre = score_store_list(stored["store"], StoreQuery(centres=[centre]), model_uri,
                                 sort_by="risk", cache_dir=stored["cache"])
    assert len(by_centre) == int((stored["cohort"].patients["centre"] == centre).sum())
    risks = [s.risk.score for s in by_centre]
    assert risks == sorted(risks, reverse=True)
    assert score_store_list(stored["store"], StoreQuery(started_from="2099-01-01"),
                            model_uri) == []


def test_board_warns_when_the_curve_outlasts_the_training_follow_up(model_uri, monkeypatch):
    """Issue 12: the model's training follow-up (``Bundle.follow_up``) reaches the board: a
    warning per end point whose curve (to 36 months) runs past it."""
    from icipredict.registry.bundle import Bundle

    assert not [w for w in score(PATIENT, model_uri).warnings if w.code == "beyond_follow_up"]
    monkeypatch.setattr(Bundle, "follow_up", property(lambda self: {"os": 20.4, "pfs": 40.0}))
    warned = [w for w in score(PATIENT, model_uri).warnings if w.code == "beyond_follow_up"]
    assert [w.message.split()[0] for w in warned] == ["OS"]
    assert "past 20 months" in warned[0].message
