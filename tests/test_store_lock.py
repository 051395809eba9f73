"""Concurrency: a second process holding the store makes readers and writers wait (with a
timeout), then fail with StoreLockedError naming the file, never a raw DuckDB IOException."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cohort_factory import make_cohort
from icipredict.cohort.schema import CohortError
from icipredict.cohort.store import CohortStore, StoreLockedError
from icipredict.errors import IcipredictError
from test_store import dump

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])            # a write connection: DuckDB's process lock
con.execute("SELECT 1")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
time.sleep(60)                               # stays alive: the lock went with the close
"""


@contextmanager
def held(path: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """Another process that opens ``path`` for writing and closes it after ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def store(tmp_path: Path) -> CohortStore:
    s = CohortStore(tmp_path / "cohort.duckdb")
    s.ingest(make_cohort(), centre="Alpha", content_hash="h1")
    return s


def test_reader_and_writer_time_out_with_a_clear_error(store: CohortStore, monkeypatch) -> None:
    before = dump(store)
    with held(store.path, 120):
        for call in (lambda s: s.summary(),
                     lambda s: s.ingest(make_cohort(albumin_shift=0.1), centre="Alpha",
                                        content_hash="h2"),
                     lambda s: s.restore("Alpha", 1)):
            start = time.monotonic()
            with pytest.raises(StoreLockedError) as err:
                call(CohortStore(store.path, lock_timeout=0.6))
            waited = time.monotonic() - start
            assert 0.6 <= waited < 5
            msg = str(err.value)
            assert msg.startswith(f"file {store.path}: another process holds the cohort store")
            assert "waited 0.6 s" in msg and "ICIPREDICT_STORE_LOCK_TIMEOUT" in msg
            assert isinstance(err.value, IcipredictError)  # the CLI prints it as one message
        monkeypatch.setenv("ICIPREDICT_STORE_LOCK_TIMEOUT", "0.3")
        start = time.monotonic()
        with pytest.raises(StoreLockedError, match="waited 0.3 s"):
            store.versions()
        assert time.monotonic() - start < 5
    assert dump(store) == before


def test_waits_for_the_other_process_then_succeeds(store: CohortStore) -> None:
    with held(store.path, 1.5) as proc:
        start = time.monotonic()
        result = CohortStore(store.path, lock_timeout=30).ingest(
            make_cohort(albumin_shift=0.1), centre="Alpha", content_hash="h2")
        waited = time.monotonic() - start
        assert proc.stdout.readline().strip() == "released"
    assert result.version == 2
    assert 1.0 <= waited < 20
    assert list(store.versions()["version"]) == [1, 2]


def test_bad_lock_timeout_setting(store: CohortStore, monkeypatch) -> None:
    monkeypatch.setenv("ICIPREDICT_STORE_LOCK_TIMEOUT", "soon")
    with pytest.raises(CohortError, match="ICIPREDICT_STORE_LOCK_TIMEOUT must be a number"):
        store.summary()


def test_cli_reports_the_lock_in_one_line(store: CohortStore) -> None:
    from typer.testing import CliRunner

    from icipredict.cli import app

    with held(store.path, 120):
        result = CliRunner().invoke(app, ["cohort", "summary", "--store", str(store.path)],
                                    env={"COLUMNS": "300", "ICIPREDICT_STORE_LOCK_TIMEOUT": "0.3"})
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert f"error: file {store.path}: another process holds the cohort store" in out
    assert "Traceback" not in out and "Could not set lock" in out  # DuckDB's detail kept
