"""Cohort store versions: every version kept, queries on the current one, restore, refusal of
implausible re-ingests (dropped rows, unit shifts), the schema version and generic tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cohort_factory import make_cohort, patient_ids
from conftest import TEST_PSEUDONYM_KEY
from icipredict.cohort import pseudonym as ps
from icipredict.cohort.schema import CONTRACTS, Cohort, CohortError
from icipredict.cohort.store import (
    CENTRE_TABLES,
    STORE_SCHEMA_VERSION,
    CohortStore,
    change_problems,
)
from icipredict.errors import StoreError
from test_store import dump

KEY = TEST_PSEUDONYM_KEY.encode()


def pid(source_id: str, centre: str = "Alpha") -> str:
    return ps.pseudonym(source_id, centre=centre, kind="patient", key=KEY)


@pytest.fixture
def store(tmp_path: Path) -> CohortStore:
    return CohortStore(tmp_path / "cohort.duckdb")


def second_version() -> Cohort:
    """make_cohort with patient 3 recoded to Melanoma and its BRCA1 variant removed (4 of 5
    mutations kept: a 20% drop, the most the default allows)."""
    c = make_cohort(albumin_shift=0.5)
    c.patients.loc[2, "cancer_type"] = "Melanoma"
    c.mutations = c.mutations[c.mutations["hugo_symbol"] != "BRCA1"].reset_index(drop=True)
    return c


def wide_cohort(n: int = 30, *, centre: str = "Alpha", os_scale: float = 1.0,
                albumin_scale: float = 1.0, age_scale: float = 1.0, hb_scale: float = 1.0,
                ids: list[str] | None = None) -> Cohort:
    """n patients with outcomes and labs (enough values for the distribution rules)."""
    ids = ids or [f"MRN-W-{i:03d}" for i in range(n)]
    rng = np.random.default_rng(1)
    os_months = rng.uniform(4, 40, n) * os_scale
    return Cohort(
        patients=pd.DataFrame({"patient_id": ids, "centre": centre, "cancer_type": "NSCLC",
                               "age": rng.uniform(45, 80, n) * age_scale}),
        outcomes=pd.DataFrame({"patient_id": ids, "os_months": os_months,
                               "os_event": rng.integers(0, 2, n),
                               "pfs_months": os_months / 2, "pfs_event": 1}),
        labs=pd.DataFrame({"patient_id": ids,
                           "albumin": rng.uniform(3.0, 4.6, n) * albumin_scale,
                           "haemoglobin": rng.uniform(10, 15, n) * hb_scale}),
    )


# ------------------------------------------------------------------ versions and queries

def test_every_version_kept_queries_read_the_current_one(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta", tag="BETA"), centre="Beta", content_hash="hb")
    store.ingest(second_version(), centre="Alpha", content_hash="h2")
    every = store.table("mutations", all_versions=True)
    alpha = every[every["centre"] == "Alpha"]
    assert sorted(alpha.groupby("version").size().items()) == [(1, 5), (2, 4)]
    assert len(store.table("patients", all_versions=True)) == 15
    # every query reads version 2 of Alpha only
    assert len(store.table("patients")) == 10 and "version" not in store.table("patients")
    cohort = store.cohort(["Alpha"])
    assert len(cohort.patients) == 5 and len(cohort.mutations) == 4
    third = pid(patient_ids()[2])
    assert cohort.patients.set_index("patient_id").loc[third, "cancer_type"] == "Melanoma"
    assert store.find_patients(cancer_types=["Bladder"]) == [pid("MRN-BETA-003", "Beta")]
    assert len(store.find_patients(centres=["Alpha"])) == 5
    brca = store.brca_carriers()
    assert sorted(brca.loc[brca["centre"] == "Alpha", "gene"]) == ["BRCA2"]  # BRCA1 gone in v2
    s = store.summary().set_index("centre")
    assert int(s.loc["Alpha", "version"]) == 2 and int(s.loc["Alpha", "with_mutations"]) == 2
    assert int(s.loc["Alpha", "patients"]) == 5
    one = store.cohort(patient_ids=[pid(patient_ids()[0])])
    assert len(one.patients) == 1 and len(one.mutations) == 2
    versions = store.versions("Alpha")
    assert list(zip(versions["version"], versions["current"], strict=True)) == [(1, False),
                                                                              (2, True)]
    # SQL users of the file: current_* views and the registry read the current version only
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM current_mutations WHERE centre = 'Alpha'"
                           ).fetchone()[0] == 4
        assert con.execute("SELECT count(*) FROM brca_registry").fetchone()[0] == 3
    finally:
        con.close()


def test_restore_brings_a_version_back_and_is_logged(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(second_version(), centre="Alpha", content_hash="h2")
    before_rows = store.table("mutations", all_versions=True)
    result = store.restore("Alpha", 1)
    assert result.changed and result.version == 1 and result.previous_version == 2
    assert result.content_hash == "h1" and result.row_counts["mutations"] == 5
    assert len(store.cohort().mutations) == 5
    assert sorted(store.brca_carriers()["gene"]) == ["BRCA1", "BRCA2"]
    assert int(store.summary()["version"].iloc[0]) == 1
    assert list(store.versions()["current"]) == [True, False]
    pd.testing.assert_frame_equal(store.table("mutations", all_versions=True), before_rows)
    again = store.restore("Alpha", 1)
    assert not again.changed and again.version == 1
    events = store.history("Alpha")
    assert list(events["event"]) == ["ingest", "ingest", "restore"]
    assert (events["version"].iloc[-1], events["previous_version"].iloc[-1]) == (1, 2)
    # re-sending version 1's content is now a no-op; new content becomes version 3
    assert not store.ingest(make_cohort(), centre="Alpha", content_hash="h1").changed
    third = store.ingest(make_cohort(albumin_shift=0.2), centre="Alpha", content_hash="h3")
    assert (third.version, third.previous_version) == (3, 1)
    assert store.restore("Alpha", 2).previous_version == 3


def test_restore_errors_name_what_exists(store: CohortStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nothing to restore"):
        CohortStore(tmp_path / "none.duckdb").restore("Alpha", 1)
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    before = dump(store)
    with pytest.raises(StoreError, match=r"has no version 4 \(stored versions: \[1\]\)"):
        store.restore("Alpha", 4)
    with pytest.raises(CohortError, match=r"'Gamma' is not in the store \(stored: \['Alpha'\]\)"):
        store.restore("Gamma", 1)
    assert dump(store) == before


# ------------------------------------------------------------------ implausible re-ingests

def test_reingest_dropping_rows_is_refused_unless_accepted(store: CohortStore,
                                                           monkeypatch) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    before = dump(store)
    truncated = make_cohort()
    truncated.mutations = truncated.mutations.iloc[:3]  # 2 of 5 variants lost: 40%
    with pytest.raises(CohortError) as err:
        store.ingest(truncated, centre="Alpha", content_hash="h2", source="alpha/")
    msg = str(err.value)
    assert "refused (current: version 1), nothing was written" in msg
    assert "3 mutations rows instead of the current version's 5: 40% fewer" in msg
    assert "more than the 20% allowed" in msg and "--accept-changes" in msg
    assert msg.startswith("file alpha/")
    assert dump(store) == before
    # a larger allowance, by argument or environment, lets it through
    monkeypatch.setenv("ICIPREDICT_MAX_ROW_DROP", "0.5")
    assert store.ingest(truncated, centre="Alpha", content_hash="h2").version == 2
    monkeypatch.setenv("ICIPREDICT_MAX_ROW_DROP", "lots")
    with pytest.raises(CohortError, match="ICIPREDICT_MAX_ROW_DROP must be a number in"):
        store.ingest(make_cohort(), centre="Alpha", content_hash="h3")
    monkeypatch.delenv("ICIPREDICT_MAX_ROW_DROP")
    beta = make_cohort("Beta")
    assert store.ingest(beta, centre="Beta", content_hash="hb").version == 1
    emptied = make_cohort("Beta")
    emptied.mutations = emptied.mutations.iloc[:0]
    with pytest.raises(CohortError, match="100% fewer"):
        store.ingest(emptied, centre="Beta", content_hash="hb2")
    assert store.ingest(emptied, centre="Beta", content_hash="hb2", max_drop=1.0).version == 2


def test_accepted_changes_are_stored_and_logged(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    truncated = make_cohort()
    truncated.mutations = truncated.mutations.iloc[:1]
    result = store.ingest(truncated, centre="Alpha", content_hash="h2", accept_changes=True)
    assert result.version == 2 and len(result.accepted_changes) == 1
    assert "80% fewer" in result.accepted_changes[0]
    assert len(store.cohort().mutations) == 1
    detail = store.history("Alpha")["detail"].iloc[-1]
    assert detail.startswith("changes accepted: 1 mutations rows instead of the current version's 5")
    assert store.restore("Alpha", 1).row_counts["mutations"] == 5  # the old rows are still there


def test_patients_whose_ids_changed_form_count_as_dropped(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    renamed = make_cohort(tag="alpha")  # same people, IDs now lower case: new pseudonyms
    with pytest.raises(CohortError) as err:
        store.ingest(renamed, centre="Alpha", content_hash="h2")
    assert "5 of the current version's 5 patients rows are missing" in str(err.value)
    assert "or their IDs changed form" in str(err.value)


@pytest.mark.parametrize(("change", "column", "ratio"), [
    ({"os_scale": 1 / 30.4}, "outcomes.os_months", "0.0329x"),  # months declared as days
    ({"os_scale": 4.35}, "outcomes.os_months", "4.35x"),  # weeks declared as months
    ({"hb_scale": 0.6206}, "labs.haemoglobin", "0.621x"),  # mmol/L declared as g/dL
    ({"age_scale": 1 / 12}, "patients.age", "0.0833x"),  # years declared as months
])
def test_unit_shift_is_refused(store: CohortStore, change: dict, column: str,
                               ratio: str) -> None:
    store.ingest(wide_cohort(), centre="Alpha", content_hash="h1")
    before = dump(store)
    with pytest.raises(CohortError) as err:
        store.ingest(wide_cohort(**change), centre="Alpha", content_hash="h2")
    msg = str(err.value)
    assert f"{column} is {ratio} the current version's (median ratio over the 30 patients" in msg
    assert "signals a unit error" in msg
    assert dump(store) == before
    assert store.ingest(wide_cohort(**change), centre="Alpha", content_hash="h2",
                        accept_changes=True).version == 2


def test_plausible_changes_pass(store: CohortStore) -> None:
    store.ingest(wide_cohort(), centre="Alpha", content_hash="h1")
    # follow-up matured (times x1.8), albumin re-measured (x1.2), 10% of patients left
    ids = [f"MRN-W-{i:03d}" for i in range(27)]
    later = wide_cohort(27, os_scale=1.8, albumin_scale=1.2, ids=ids)
    result = store.ingest(later, centre="Alpha", content_hash="h2")
    assert result.version == 2 and result.accepted_changes == ()


def test_unit_shift_of_new_patients_uses_the_medians(store: CohortStore) -> None:
    store.ingest(wide_cohort(), centre="Alpha", content_hash="h1")
    others = [f"NEW-{i:03d}" for i in range(30)]
    both = wide_cohort(60, ids=[f"MRN-W-{i:03d}" for i in range(30)] + others)
    store.ingest(both, centre="Alpha", content_hash="h2")  # new patients, same units: fine
    problems = change_problems(
        {"labs": wide_cohort(ids=others, albumin_scale=10).labs},
        {"labs": wide_cohort().labs}, max_drop=1.0)
    assert len(problems) == 1 and problems[0].startswith("labs.albumin is 10x the current ")
    assert "version's (median 3" in problems[0]  # the two medians: no patient in both


def test_first_ingest_with_implausible_times_is_refused(store: CohortStore) -> None:
    with pytest.raises(CohortError) as err:
        store.ingest(wide_cohort(os_scale=1 / 30.4), centre="Alpha", content_hash="h1")
    msg = str(err.value)
    assert "refused, nothing was written" in msg
    assert "outcomes.os_months: median" in msg and "is below 1 month" in msg
    assert "outcomes.pfs_months: median" in msg
    assert store.versions().empty and store.key_fingerprint() is None
    assert store.ingest(wide_cohort(os_scale=1 / 30.4), centre="Alpha", content_hash="h1",
                        accept_changes=True).version == 1
    long = change_problems({"outcomes": wide_cohort(os_scale=30.4).outcomes}, None)
    assert any("is above 120 months" in p for p in long)


def test_small_tables_skip_the_distribution_rules() -> None:
    few = wide_cohort(9)
    assert change_problems({"outcomes": wide_cohort(9, os_scale=30.4).outcomes,
                            "labs": few.labs, "patients": few.patients},
                           {"outcomes": few.outcomes, "labs": few.labs,
                            "patients": few.patients}) == []


# ------------------------------------------------------------------ schema

def downgrade_to_schema_1(path: Path, *, keys: dict[str, str] | None = None) -> None:
    """Turn a store into the schema 1 layout: only current rows, no version column, no key."""
    con = duckdb.connect(str(path))
    try:
        for name in CENTRE_TABLES:
            con.execute(f"CREATE TABLE {name}_x AS SELECT * FROM current_{name}")
        con.execute("DROP VIEW brca_registry")
        for name in CENTRE_TABLES:
            con.execute(f"DROP VIEW current_{name}")
            con.execute(f"DROP TABLE {name}")
            if name != "germline_mutations":  # no such table in schema 1 stores
                con.execute(f"ALTER TABLE {name}_x RENAME TO {name}")
        con.execute("DROP TABLE germline_mutations_x")
        con.execute("DROP TABLE current_versions")
        con.execute("DROP TABLE history")
        con.execute("ALTER TABLE ingests DROP COLUMN rows_kept")
        con.execute("ALTER TABLE ingests DROP COLUMN n_germline_mutations")
        con.execute("DELETE FROM store_meta WHERE key = 'key_fingerprint'")
        con.execute("UPDATE store_meta SET value = '1' WHERE key = 'schema_version'")
        for centre, fingerprint in (keys or {}).items():
            con.execute("UPDATE ingests SET key_fingerprint = ? WHERE centre = ?",
                        [fingerprint, centre])
    finally:
        con.close()


def test_schema_1_store_is_migrated_keeping_its_rows(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(second_version(), centre="Alpha", content_hash="h2")
    store.ingest(make_cohort("Beta", tag="BETA"), centre="Beta", content_hash="hb")
    summary, cohort = store.summary(), store.cohort()
    downgrade_to_schema_1(store.path)
    pd.testing.assert_frame_equal(store.summary(), summary)  # a read migrates it
    for name, df in store.cohort().tables().items():
        if name != "germline_mutations":
            pd.testing.assert_frame_equal(df, getattr(cohort, name), obj=name)
    versions = store.versions()
    assert list(zip(versions["centre"], versions["version"], versions["rows_kept"],
                    versions["current"], strict=True)) == [
        ("Alpha", 1, False, False), ("Alpha", 2, True, True), ("Beta", 1, True, True)]
    assert store.key_fingerprint() == ps.key_fingerprint(KEY)
    assert store.history()["event"].tolist() == ["migrate"]
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'"
                       ).fetchone()[0] == str(STORE_SCHEMA_VERSION)
    con.close()
    with pytest.raises(StoreError, match="version 1 of centre 'Alpha' cannot be restored: it "
                                          "was stored before store schema 2"):
        store.restore("Alpha", 1)
    third = store.ingest(make_cohort(albumin_shift=0.2), centre="Alpha", content_hash="h3")
    assert (third.version, third.previous_version) == (3, 2)
    assert store.restore("Alpha", 2).row_counts["mutations"] == 4


def test_schema_1_store_with_two_keys_is_refused_unchanged(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta", tag="BETA"), centre="Beta", content_hash="hb")
    downgrade_to_schema_1(store.path, keys={"Beta": "0123456789ab"})
    before = dump(store)
    with pytest.raises(CohortError) as err:
        store.summary()
    msg = str(err.value)
    assert str(store.path) in msg and "different keys" in msg
    assert f"Alpha: {ps.key_fingerprint(KEY)}, Beta: 0123456789ab" in msg
    assert dump(store) == before


def test_unknown_schema_versions_and_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "v9.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO store_meta VALUES ('schema_version', '9')")
    con.close()
    store = CohortStore(path)
    for call in (store.summary,
                 lambda: store.ingest(make_cohort(), centre="Alpha", content_hash="h")):
        with pytest.raises(StoreError) as err:
            call()
        msg = str(err.value)
        assert str(path) in msg and "schema version 9" in msg and "upgrade icipredict" in msg
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a cohort store"):
        CohortStore(other).summary()
    (tmp_path / "junk.duckdb").write_text("not a database")
    with pytest.raises(StoreError, match="cannot open the cohort store"):
        CohortStore(tmp_path / "junk.duckdb").summary()
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(StoreError, match="no cohort store in this file yet"):
        CohortStore(empty).summary()


def test_every_contract_table_is_versioned(store: CohortStore) -> None:
    assert "germline_mutations" in CENTRE_TABLES
    with_germline = make_cohort()
    with_germline.germline_mutations = with_germline.mutations.iloc[:2].copy()
    store.ingest(with_germline, centre="Alpha", content_hash="h1")
    assert len(store.cohort().germline_mutations) == 2
    assert store.versions()["n_germline_mutations"].tolist() == [2]
    # a store made before a contract table existed gets its row-count column on the next write
    con = duckdb.connect(str(store.path))
    con.execute("ALTER TABLE ingests DROP COLUMN n_germline_mutations")
    con.close()
    store.ingest(make_cohort(albumin_shift=0.1), centre="Alpha", content_hash="h2",
                 accept_changes=True)
    counts = store.versions()["n_germline_mutations"].tolist()
    assert pd.isna(counts[0]) and counts[1] == 0
    assert len(store.cohort().germline_mutations) == 0
    store.restore("Alpha", 1)
    assert len(store.cohort().germline_mutations) == 2
    for name in CONTRACTS:
        assert name in store.cohort().tables()


def test_a_column_added_to_a_contract_is_added_to_an_existing_store(store: CohortStore,
                                                                    monkeypatch) -> None:
    from dataclasses import replace

    from icipredict.cohort.schema import Column

    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    labs = CONTRACTS["labs"]
    monkeypatch.setitem(CONTRACTS, "labs", replace(labs, columns=(
        *labs.columns, Column("crp", "float", "C-reactive protein.", unit="mg/L"))))
    newer = make_cohort()
    newer.labs["crp"] = [3.0, 12.0, np.nan, 40.0]
    store.ingest(newer, centre="Alpha", content_hash="h2")
    got = store.cohort().labs.set_index("patient_id")["crp"]
    assert got[pid(patient_ids()[3])] == 40.0 and got.isna().sum() == 1
    every = store.table("labs", all_versions=True)
    assert every.loc[every["version"] == 1, "crp"].isna().all()
