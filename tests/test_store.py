"""The DuckDB cohort store: atomic ingest, versions, pseudonyms, summary and the BRCA registry."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cohort_factory import make_cohort, patient_ids, sample_ids
from conftest import TEST_PSEUDONYM_KEY
from icipredict.cohort import pseudonym as ps
from icipredict.cohort.schema import CONTRACTS, CohortError
from icipredict.cohort.store import CohortStore, reverse_km_median, source_content_hash
from icipredict.cohort.store import versions as store_versions
from icipredict.errors import StoreError

KEY = TEST_PSEUDONYM_KEY.encode()  # the suite's key (conftest sets it in the environment)


@pytest.fixture
def store(tmp_path: Path) -> CohortStore:
    return CohortStore(tmp_path / "cohort.duckdb")


def dump(store: CohortStore) -> dict[str, list[tuple]]:
    """Every row of every table of the store, sorted, for exact before/after comparison."""
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()]
        return {n: sorted(con.execute(f"SELECT * FROM {n}").fetchall(), key=repr)
                for n in sorted(names)}
    finally:
        con.close()


def pid(source_id: str, centre: str = "Alpha", key: bytes = KEY) -> str:
    return ps.pseudonym(source_id, centre=centre, kind="patient", key=key)


# ------------------------------------------------------------------ pseudonyms

def test_pseudonym_format_stability_and_scope() -> None:
    a = ps.pseudonym("MRN-1", centre="Alpha", kind="patient", key=b"k1")
    assert re.fullmatch(r"P-[0-9a-f]{16}", a)
    assert re.fullmatch(r"S-[0-9a-f]{16}", ps.pseudonym("MRN-1", centre="Alpha", kind="sample",
                                                       key=b"k1"))
    assert a == ps.pseudonym("MRN-1", centre="Alpha", kind="patient", key=b"k1")
    assert a != ps.pseudonym("MRN-1", centre="Alpha", kind="patient", key=b"k2")
    assert a != ps.pseudonym("MRN-1", centre="Beta", kind="patient", key=b"k1")
    assert a != ps.pseudonym("MRN-2", centre="Alpha", kind="patient", key=b"k1")


def test_key_from_env_then_created_key_file(tmp_path: Path, monkeypatch) -> None:
    assert ps.load_key() == KEY
    monkeypatch.delenv("ICIPREDICT_PSEUDONYM_KEY")
    key_file = tmp_path / "sub" / "pseudonym.key"
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY_FILE", str(key_file))
    with pytest.raises(RuntimeError):
        ps.load_key(create=False)
    first = ps.load_key()
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= 32 and first != KEY
    assert ps.load_key() == first  # read back, not regenerated


def test_pseudonymise_series_keeps_missing() -> None:
    out = ps.pseudonymise_series(pd.Series(["a", None, "a", np.nan]), centre="C", kind="sample",
                                 key=b"k")
    assert out[0] == out[2] and out[0].startswith("S-")
    assert out[1] is None and out[3] is None


# ------------------------------------------------------------------ ingest

def test_ingest_pseudonymises_and_no_source_id_in_store(store: CohortStore) -> None:
    result = store.ingest(make_cohort(), centre="Alpha", content_hash="h1", source="alpha/")
    assert result.changed and result.version == 1
    assert result.row_counts["patients"] == 5 and result.row_counts["mutations"] == 5
    patients = store.table("patients")
    assert set(patients["patient_id"]) == {pid(p) for p in patient_ids()}
    samples = store.table("samples")
    assert set(samples["sample_id"]) == {
        ps.pseudonym(s, centre="Alpha", kind="sample", key=KEY) for s in sample_ids()}
    assert set(store.table("mutations")["sample_id"]) <= set(samples["sample_id"])
    # No source ID (nor the key) in any cell of any table, nor in the file's bytes.
    secrets = [*patient_ids(), *sample_ids(), KEY.decode()]
    for name, rows in dump(store).items():
        for row in rows:
            for cell in row:
                assert not any(s in str(cell) for s in secrets), (name, row)
    raw = store.path.read_bytes()
    assert not any(s.encode() in raw for s in secrets)


def test_same_source_ids_at_two_centres_stay_apart(store: CohortStore) -> None:
    store.ingest(make_cohort("Alpha"), centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta"), centre="Beta", content_hash="h1")  # same source IDs
    patients = store.table("patients")
    assert len(patients) == 10 and patients["patient_id"].is_unique
    assert store.centres() == ["Alpha", "Beta"]


def test_reingest_same_content_is_noop(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1", source="alpha/")
    before = dump(store)
    again = store.ingest(make_cohort(), centre="Alpha", content_hash="h1", source="alpha/")
    assert not again.changed and again.version == 1 and again.previous_version == 1
    assert again.row_counts["patients"] == 5
    assert dump(store) == before
    assert len(store.versions()) == 1


def test_new_content_is_new_version_replacing_rows(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta"), centre="Beta", content_hash="hb")
    beta_before = store.cohort(["Beta"]).labs
    second = store.ingest(make_cohort(albumin_shift=0.5), centre="Alpha", content_hash="h2")
    assert second.changed and second.version == 2 and second.previous_version == 1
    versions = store.versions("Alpha")
    assert list(versions["version"]) == [1, 2]
    assert list(versions["content_hash"]) == ["h1", "h2"]
    assert versions["ingested_at"].is_monotonic_increasing
    labs = store.cohort(["Alpha"]).labs.set_index("patient_id")
    assert len(labs) == 4  # replaced, not appended
    assert labs.loc[pid(patient_ids()[0]), "albumin"] == pytest.approx(4.4)
    pd.testing.assert_frame_equal(store.cohort(["Beta"]).labs, beta_before)  # other centre intact


def test_different_key_gives_different_pseudonyms(tmp_path: Path, monkeypatch) -> None:
    a1 = CohortStore(tmp_path / "a1.duckdb")
    a2 = CohortStore(tmp_path / "a2.duckdb")
    b = CohortStore(tmp_path / "b.duckdb")
    a1.ingest(make_cohort(), centre="Alpha", content_hash="h")
    a2.ingest(make_cohort(), centre="Alpha", content_hash="h")
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", "another-secret-also-32-characters-long")
    b.ingest(make_cohort(), centre="Alpha", content_hash="h")
    ids = [set(s.table("patients")["patient_id"]) for s in (a1, a2, b)]
    assert ids[0] == ids[1]
    assert not ids[0] & ids[2]
    assert a1.key_fingerprint() == ps.key_fingerprint(KEY) != b.key_fingerprint()


def test_failed_write_leaves_store_unchanged(store: CohortStore, monkeypatch) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta"), centre="Beta", content_hash="hb")
    before = dump(store)
    original = store_versions.insert
    seen = []

    def failing_insert(con, name, df):
        seen.append(name)
        if name == "outcomes":  # after patients, samples, mutations, ... were already replaced
            raise RuntimeError("disk full (simulated)")
        original(con, name, df)

    monkeypatch.setattr(store_versions, "insert", failing_insert)
    with pytest.raises(RuntimeError, match="simulated"):
        store.ingest(make_cohort(albumin_shift=1.0), centre="Alpha", content_hash="h2")
    assert "patients" in seen and "labs" in seen  # the failure really was mid-write
    assert dump(store) == before
    monkeypatch.setattr(store_versions, "insert", original)
    assert store.ingest(make_cohort(albumin_shift=1.0), centre="Alpha",
                        content_hash="h2").version == 2


def test_failed_validation_leaves_store_unchanged(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    before = dump(store)
    bad = make_cohort()
    bad.outcomes.loc[2, "os_event"] = 2
    with pytest.raises(CohortError, match="os_event"):
        store.ingest(bad, centre="Alpha", content_hash="h2")
    dup = make_cohort()
    dup.patients.loc[1, "patient_id"] = dup.patients.loc[0, "patient_id"]
    with pytest.raises(CohortError, match="duplicate"):
        store.ingest(dup, centre="Alpha", content_hash="h3")
    with pytest.raises(CohortError, match="centre"):
        store.ingest(make_cohort("Beta"), centre="Alpha", content_hash="h4")
    assert dump(store) == before


def test_panel_genes_shared_upsert(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    other = make_cohort("Beta")
    other.panel_genes = pd.DataFrame({"panel": ["IMPACT468", "EXOTIC"],
                                      "hugo_symbol": ["BRCA1", "POLE"]})
    store.ingest(other, centre="Beta", content_hash="h2")
    genes = store.table("panel_genes")
    assert len(genes) == 6 and not genes.duplicated().any()


# ------------------------------------------------------------------ queries

def test_cohort_roundtrip_has_contract_columns_and_values(store: CohortStore) -> None:
    source = make_cohort()
    store.ingest(source, centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta"), centre="Beta", content_hash="h2")
    got = store.cohort(["Alpha"]).validate()
    for name, df in got.tables().items():
        assert list(df.columns) == CONTRACTS[name].column_names
    assert len(got.patients) == 5 and set(got.patients["centre"]) == {"Alpha"}
    outcomes = got.outcomes.set_index("patient_id")
    expected = source.outcomes.assign(patient_id=[pid(p) for p in patient_ids()])
    expected = expected.set_index("patient_id").loc[outcomes.index]
    pd.testing.assert_frame_equal(outcomes, expected, check_dtype=False)
    assert got.treatments["start_date"].dtype.kind == "M"
    assert len(store.cohort().patients) == 10
    with pytest.raises(CohortError, match="Gamma"):
        store.cohort(["Gamma"])


def test_summary_matches_hand_computed(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    smaller = make_cohort("Beta")
    smaller.outcomes.loc[:, "os_event"] = 1  # everyone died: follow-up not estimable
    store.ingest(smaller, centre="Beta", content_hash="h2")
    store.ingest(smaller, centre="Beta", content_hash="h3")
    s = store.summary().set_index("centre")
    alpha = s.loc["Alpha"]
    expected = dict(patients=5, samples=4, with_mutations=3, with_imaging=2, with_labs=3,
                    responders=2, evaluable=4, os_events=2, pfs_events=3, version=1)
    assert {k: int(alpha[k]) for k in expected} == expected
    assert alpha["median_followup_months"] == pytest.approx(12.0)
    assert int(s.loc["Beta", "os_events"]) == 5 and int(s.loc["Beta", "version"]) == 2
    assert np.isnan(s.loc["Beta", "median_followup_months"])


def test_reverse_km_median_by_hand() -> None:
    t = pd.Series([2.0, 5.0, 8.0, 12.0, 20.0])
    e = pd.Series([1, 0, 1, 0, 0])
    assert reverse_km_median(t, e) == pytest.approx(12.0)
    assert np.isnan(reverse_km_median(t, pd.Series([1, 1, 1, 1, 1])))


def test_brca_registry_lists_exactly_the_carriers(store: CohortStore) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    store.ingest(make_cohort("Beta", tag="BETA"), centre="Beta", content_hash="h2")
    brca = store.brca_carriers()
    got = set(zip(brca["centre"], brca["patient_id"], brca["gene"], brca["hgvsp_short"],
                  strict=True))
    want = set()
    for centre, tag in (("Alpha", "ALPHA"), ("Beta", "BETA")):
        p = patient_ids(tag)
        want |= {(centre, pid(p[0], centre), "BRCA2", "p.K3326fs"),
                 (centre, pid(p[2], centre), "BRCA1", "p.C61G")}
    assert got == want  # the Silent BRCA2 variant of patient 2 is not a carrier
    assert "Silent" not in set(brca["variant_classification"])
    row = brca[(brca["centre"] == "Alpha") & (brca["gene"] == "BRCA2")].iloc[0]
    assert row["cancer_type"] == "NSCLC" and row["drug"] == "pembrolizumab"
    assert row["bor"] == "CR" and row["os_months"] == 2.0 and row["vaf"] == pytest.approx(0.42)
    # the same view is available to SQL users of the file
    con = duckdb.connect(str(store.path), read_only=True)
    assert con.execute("SELECT count(*) FROM brca_registry").fetchone()[0] == 4
    con.close()


def test_queries_on_missing_store_raise(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="ingest a centre first"):
        CohortStore(tmp_path / "none.duckdb").summary()


# ------------------------------------------------------------------ content hash

def test_source_content_hash_covers_every_file(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "a.txt").write_text("one")
    (folder / "b.txt").write_text("two")
    (folder / ".DS_Store").write_text("noise")
    h1 = source_content_hash(folder)
    (folder / ".DS_Store").write_text("other noise")
    assert source_content_hash(folder) == h1
    (folder / "b.txt").write_text("two!")
    h2 = source_content_hash(folder)
    assert h2 != h1
    (folder / "c.txt").write_text("")
    assert source_content_hash(folder) not in (h1, h2)

    data = tmp_path / "data.csv"
    data.write_text("id,age\n1,50\n")
    cmap = tmp_path / "map.yaml"
    cmap.write_text("name: t\nfiles:\n  - path: data.csv\n    columns: {patient_id: id}\n")
    m1 = source_content_hash(cmap)
    data.write_text("id,age\n1,51\n")
    assert source_content_hash(cmap) != m1  # the data file a map names is covered
    with pytest.raises(CohortError, match="not found"):
        source_content_hash(tmp_path / "nope")


def test_key_file_is_never_in_store(store: CohortStore, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ICIPREDICT_PSEUDONYM_KEY")
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY_FILE", str(tmp_path / "k" / "key"))
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    secret = (tmp_path / "k" / "key").read_text().strip()
    assert secret.encode() not in store.path.read_bytes()
    assert os.path.getsize(store.path) > 0


def test_warns_when_image_uri_contains_source_id(store: CohortStore, caplog) -> None:
    leaky = make_cohort()
    leaky.imaging.loc[0, "image_uri"] = f"img/{patient_ids()[0]}/ct.nii.gz"
    with caplog.at_level("WARNING", logger="icipredict.cohort.store"):
        store.ingest(leaky, centre="Alpha", content_hash="h1")
    assert "1 image/mask/radiomics URI(s) contain the patient's source ID" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="icipredict.cohort.store"):
        store.ingest(make_cohort(), centre="Alpha", content_hash="h2")
    assert "source ID" not in caplog.text
