"""One pseudonymisation key per store: fingerprint recorded, another key refused, short keys
refused, no key created for a store that has one, and rekey re-deriving every version from its
source under a new key (all-or-nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohort_factory import CLINICAL, COLUMN_MAP, make_cohort
from conftest import TEST_PSEUDONYM_KEY
from icipredict.cohort import pseudonym as ps
from icipredict.cohort.loaders import load_source
from icipredict.cohort.pseudonym import PseudonymKeyError
from icipredict.cohort.schema import CohortError
from icipredict.cohort.store import CohortStore, source_content_hash
from icipredict.errors import StoreError
from test_store import dump

KEY = TEST_PSEUDONYM_KEY.encode()
NEW_KEY = b"the-new-key-of-the-network-0123456789abcdef"

def write_source(folder: Path, clinical: str = CLINICAL) -> Path:
    """A column-map source (map + CSV) in ``folder``; returns the map's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clin.csv").write_text(clinical)
    (folder / "map.yaml").write_text(COLUMN_MAP)
    return folder / "map.yaml"


def ingest_source(store: CohortStore, source: Path, centre: str, **kwargs):
    return store.ingest(load_source(source, centre=centre), centre=centre,
                        content_hash=source_content_hash(source), source=str(source), **kwargs)


def pids(source_ids, centre: str, key: bytes) -> set[str]:
    return {ps.pseudonym(p, centre=centre, kind="patient", key=key) for p in source_ids}


@pytest.fixture
def store(tmp_path: Path) -> CohortStore:
    return CohortStore(tmp_path / "cohort.duckdb")


@pytest.fixture
def network(tmp_path: Path, store: CohortStore) -> dict[str, Path]:
    """Hosp versions 1 and 2 (each from its own folder) and Other version 1, under KEY."""
    sources = {
        "v1": write_source(tmp_path / "hosp-v1"),
        "v2": write_source(tmp_path / "hosp-v2", CLINICAL.replace("120,1,SD", "150,1,SD")),
        "other": write_source(tmp_path / "other"),
    }
    assert ingest_source(store, sources["v1"], "Hosp").version == 1
    assert ingest_source(store, sources["v2"], "Hosp").version == 2
    assert ingest_source(store, sources["other"], "Other").version == 1
    return sources


# ------------------------------------------------------------------ one key per store

def test_store_records_its_key_and_refuses_another(store: CohortStore, monkeypatch) -> None:
    assert store.key_fingerprint() is None
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    assert store.key_fingerprint() == ps.key_fingerprint(KEY)
    before = dump(store)
    other = b"a-different-but-long-enough-secret-0123456789"
    for attempt in (lambda: store.ingest(make_cohort(), centre="Alpha", content_hash="h2",
                                         key=other),
                    lambda: store.ingest(make_cohort("Beta"), centre="Beta", content_hash="h1",
                                         key=other)):
        with pytest.raises(PseudonymKeyError) as err:
            attempt()
        msg = str(err.value)
        assert str(store.path) in msg
        assert f"fingerprint {ps.key_fingerprint(other)}" in msg
        assert f"fingerprint {ps.key_fingerprint(KEY)}" in msg
        assert "icipredict cohort rekey" in msg
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", other.decode())  # the environment's key too
    with pytest.raises(PseudonymKeyError, match="is not this store's key"):
        store.ingest(make_cohort(), centre="Alpha", content_hash="h2")
    assert dump(store) == before


def test_short_keys_are_refused(store: CohortStore, tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(PseudonymKeyError, match=r"too short \(5 characters; at least 32"):
        store.ingest(make_cohort(), centre="Alpha", content_hash="h", key=b"short")
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", "x" * 31)
    with pytest.raises(PseudonymKeyError, match="environment variable ICIPREDICT_PSEUDONYM_KEY "
                                                "is too short"):
        ps.load_key()
    with pytest.raises(CohortError, match="too short"):  # a CohortError: the CLI prints it
        store.ingest(make_cohort(), centre="Alpha", content_hash="h")
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", "x" * 32)
    assert ps.load_key() == b"x" * 32
    monkeypatch.delenv("ICIPREDICT_PSEUDONYM_KEY")
    key_file = tmp_path / "pseudonym.key"
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY_FILE", str(key_file))
    key_file.write_text("one-character\n")
    with pytest.raises(PseudonymKeyError, match=f"key file {key_file} is too short"):
        ps.load_key()
    key_file.write_text("\n")
    with pytest.raises(RuntimeError, match="is empty"):  # still a RuntimeError for old callers
        ps.load_key()
    assert not store.path.exists() or store.key_fingerprint() is None


def test_no_key_is_created_for_a_store_that_has_one(store: CohortStore, tmp_path: Path,
                                                    monkeypatch) -> None:
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    before = dump(store)
    monkeypatch.delenv("ICIPREDICT_PSEUDONYM_KEY")
    key_file = tmp_path / "config" / "pseudonym.key"
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY_FILE", str(key_file))
    with pytest.raises(PseudonymKeyError) as err:
        store.ingest(make_cohort(albumin_shift=0.1), centre="Alpha", content_hash="h2")
    msg = str(err.value)
    assert "no pseudonymisation key" in msg and "no new key is created" in msg
    assert ps.key_fingerprint(KEY) in msg and str(store.path) in msg
    assert not key_file.exists()
    assert dump(store) == before
    # a new store still gets a key made on first use
    fresh = CohortStore(tmp_path / "fresh.duckdb")
    fresh.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    assert key_file.exists()
    assert fresh.key_fingerprint() == ps.key_fingerprint(key_file.read_text().strip().encode())


# ------------------------------------------------------------------ rekey

def test_rekey_rederives_every_version_under_the_new_key(store: CohortStore, network,
                                                         monkeypatch) -> None:
    ids = ["H-0001", "H-0002", "H-0003"]
    old_ids = pids(ids, "Hosp", KEY) | pids(ids, "Other", KEY)
    result = store.rekey(NEW_KEY)
    assert result.old_fingerprint == ps.key_fingerprint(KEY)
    assert result.new_fingerprint == ps.key_fingerprint(NEW_KEY) == store.key_fingerprint()
    assert result.rekeyed == (("Hosp", 1), ("Hosp", 2), ("Other", 1)) and result.dropped == ()
    every = store.table("patients", all_versions=True)
    assert len(every) == 9
    assert set(every["patient_id"]) == pids(ids, "Hosp", NEW_KEY) | pids(ids, "Other", NEW_KEY)
    for name, rows in dump(store).items():  # no old pseudonym left anywhere
        assert not any(p in str(row) for row in rows for p in old_ids), name
    assert set(store.versions()["key_fingerprint"]) == {result.new_fingerprint}
    event = store.history().iloc[-1]
    assert event["event"] == "rekey" and result.old_fingerprint in event["detail"]
    assert "3 version(s) re-derived" in event["detail"]
    # the values are those of each version: version 2 current, version 1 restorable
    hosp3 = ps.pseudonym("H-0003", centre="Hosp", kind="patient", key=NEW_KEY)
    os_months = store.cohort(["Hosp"]).outcomes.set_index("patient_id")["os_months"]
    assert os_months[hosp3] == pytest.approx(150 / 30.4375, rel=1e-3)
    store.restore("Hosp", 1)
    os_months = store.cohort(["Hosp"]).outcomes.set_index("patient_id")["os_months"]
    assert os_months[hosp3] == pytest.approx(120 / 30.4375, rel=1e-3)
    # from now on the old key is refused and the new one links to the stored pseudonyms
    with pytest.raises(PseudonymKeyError, match="is not this store's key"):
        ingest_source(store, network["v1"], "Hosp")
    monkeypatch.setenv("ICIPREDICT_PSEUDONYM_KEY", NEW_KEY.decode())
    assert not ingest_source(store, network["v1"], "Hosp").changed


def test_rekey_refuses_when_a_source_changed_unless_dropped(store: CohortStore, network) -> None:
    network["v1"].with_name("clin.csv").write_text(CLINICAL.replace("64,M", "65,M"))
    before = dump(store)
    with pytest.raises(CohortError) as err:
        store.rekey(NEW_KEY)
    msg = str(err.value)
    assert "rekey refused, nothing was changed" in msg
    assert f"Hosp version 1: its source {network['v1']} has changed since" in msg
    assert "--drop-unreproducible" in msg and "Hosp version 2" not in msg
    assert dump(store) == before
    result = store.rekey(NEW_KEY, drop_unreproducible=True)
    assert result.rekeyed == (("Hosp", 2), ("Other", 1))
    assert [d[:2] for d in result.dropped] == [("Hosp", 1)]
    assert list(store.versions("Hosp")["version"]) == [2]
    assert set(store.table("patients", all_versions=True)["version"]) == {1, 2}  # Other v1
    assert "dropped (not re-derivable): Hosp v1" in store.history()["detail"].iloc[-1]


def test_rekey_never_drops_a_current_version(store: CohortStore, network) -> None:
    network["other"].unlink()  # the column map is gone
    before = dump(store)
    with pytest.raises(CohortError) as err:
        store.rekey(NEW_KEY, drop_unreproducible=True)
    assert "Other version 1: its source" in str(err.value) and "is gone" in str(err.value)
    assert "current version must be re-derivable" in str(err.value)
    assert dump(store) == before


def test_rekey_is_all_or_nothing(store: CohortStore, network) -> None:
    before = dump(store)
    calls = []

    def failing_load(path, centre=None):
        calls.append(path)
        if len(calls) == 3:  # after two versions were already rewritten
            raise RuntimeError("disk full (simulated)")
        return load_source(path, centre=centre)

    with pytest.raises(RuntimeError, match="simulated"):
        store.rekey(NEW_KEY, load=failing_load)
    assert dump(store) == before

    def lossy_load(path, centre=None):  # the loader now reads one lab row fewer
        cohort = load_source(path, centre=centre)
        cohort.labs = cohort.labs.iloc[:2]
        return cohort

    with pytest.raises(CohortError, match=r"Hosp version 1: its source now loads differently "
                                          r"\(labs 2 rows instead of 3\)"):
        store.rekey(NEW_KEY, load=lossy_load)
    assert dump(store) == before


def test_rekey_argument_errors(store: CohortStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nothing to rekey"):
        store.rekey(NEW_KEY)
    store.ingest(make_cohort(), centre="Alpha", content_hash="h1", source="")
    with pytest.raises(PseudonymKeyError, match="new pseudonymisation key is too short"):
        store.rekey(b"short")
    with pytest.raises(CohortError, match="is the store's key already"):
        store.rekey(KEY)
    with pytest.raises(CohortError, match="Alpha version 1: no source path was recorded"):
        store.rekey(NEW_KEY)
