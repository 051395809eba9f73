"""REST API fuzz: a corpus of malformed requests gets 4xx naming the field, never a 500.

Every field of the patient record and of the store query gets wrong types, huge and negative
numbers, NaN/Infinity, NUL bytes, unpaired surrogates, very long strings and deep nesting; the
bodies are empty, not JSON, not UTF-8 or nested beyond any use; every query parameter gets junk;
a locked cohort store gets 503 with ``Retry-After``. One small app (stand-in model, a 12-patient
store, an image folder) serves the whole corpus.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from board_model import setup_registry
from icipredict.predict.record import PatientRecord
from icipredict.predict.service import MAX_DEPTH, create_app, screen_json

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
PATIENT = {"patient_id": "F1", "cancer_type": "NSCLC", "tmb": 12, "albumin": 3.9, "nlr": 3,
           "age": 64}
LONG = "x" * 100_000

#: Wrong or hostile values for any field (each sent alone on a valid record).
JUNK: list[Any] = [
    [1, 2], [], {}, {"a": {"b": [1]}}, True, 10**400, -10**400, 1e308, -1e308, -1, -1e9, 0,
    "", "   ", "NaN", "nan", "Infinity", "-Infinity", "1e999", "--5", "38 g/L g/L",
    "\u65e5\u672c\u8a9e \U0001f9ec", "\u202eevil", "a\x00b", "\x00", LONG, [[[[[[1]]]]]],
    {"value": "x", "unit": 1}, {"value": 1}, {"value": 1, "unit": "furlongs"},
    {"value": [1], "unit": "g/L"}, [{"gene": 1}], [{"image": 1, "mask": []}]]

#: Raw JSON texts Python reads but JSON forbids (or that no double holds), per field.
RAW_JUNK = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" * 400, '"\\ud800"',
            '"a\\u0000b"', "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)]

#: Junk for every query parameter.
QUERY_JUNK = ["", "__class__", "__init__", "\x00", "a\x00b", "x" * 5000, "\u65e5\u672c",
              "true false", "-1", "1e999", "NaN", "[]", "{}", "models:/",
              "models:/@", "models:/icipredict/latest", "models:/../../etc@x",
              "models:/icipredict/0", "models:/icipredict/99999999999",
              "file:///etc/passwd", "/etc/passwd", "runs:/abc/model"]

STORE_QUERY_FIELDS = ["patient_ids", "centres", "cancer_types", "started_from", "started_to",
                      "without_outcome"]
STORE_JUNK: list[Any] = [
    1, True, "riverside", [1, 2], [None], [[]], [{}], ["\x00"], [LONG], {}, "-2020-01-01",
    "2020-13-45", "9999999-01-01", "yesterday", "1e999", [], ["P-0000000000000000"] * 3,
    ["\u65e5\u672c"]]


@dataclass
class Case:
    """One request and the field its 4xx must name (None: any field, or a 2xx is fine)."""

    name: str
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    field: str | None = None
    status: tuple[int, ...] | None = None  # the only acceptable statuses, when known


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def app_env(tmp_path_factory):
    """Stand-in registry model, a 12-patient store and an image folder with junk files."""
    from icipredict import synthetic
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore, source_content_hash

    root = tmp_path_factory.mktemp("fuzz")
    uri = setup_registry(root / "registry")
    net = synthetic.generate_network(root / "net", n_patients=12, seed=5, workers=1)
    store = CohortStore(root / "store.duckdb")
    for centre, path in net.sources.items():
        store.ingest(load_source(path, centre=centre), centre=centre,
                     content_hash=source_content_hash(path), source=str(path))  # the suite's key
    images = root / "images"
    images.mkdir()
    (images / "junk.nii.gz").write_bytes(b"\x00not an image" * 10)
    (images / "empty.nrrd").write_bytes(b"")
    (images / "folder").mkdir()
    (images / "outside").symlink_to("/etc")
    app = create_app(uri, token=TOKEN, store=store.path, image_root=images,
                     cache_dir=root / "cache")
    return {"client": TestClient(app, raise_server_exceptions=True), "store": store,
            "uri": uri, "ids": store.cohort().patients["patient_id"].astype(str).tolist()}


# ------------------------------------------------------------------------------- the corpus


def record_cases() -> list[Case]:
    """Every record field with every junk value, as JSON and as raw non-JSON text."""
    cases = []
    for name in PatientRecord.model_fields:
        for i, value in enumerate(JUNK):
            cases.append(Case(f"{name}={i}", "post", "/score",
                              {"json": {**PATIENT, name: value}, "headers": AUTH}, name))
        for raw in RAW_JUNK:
            body = json.dumps({**PATIENT, name: 0})
            body = body.replace(f'"{name}": 0', f'"{name}": {raw}')
            cases.append(Case(f"{name}=raw {raw[:12]}", "post", "/score",
                              {"content": body.encode(), "headers": JSON}, name, (422,)))
    return cases


def body_cases() -> list[Case]:
    """Whole bodies that are empty, not JSON, the wrong shape or hostile, on every endpoint."""
    bodies: list[tuple[str, bytes, str | None]] = [
        ("empty", b"", None), ("spaces", b"   ", None), ("not json", b"not json", None),
        ("truncated", b'{"cancer_type": "NSC', None), ("null", b"null", None),
        ("number", b"42", None), ("string", b'"NSCLC"', None), ("bad utf-8", b'{"a": "\xff"}',
                                                                None),
        ("deep", b"[" * 200_000, None), ("deep closed", b"[" * 5000 + b"]" * 5000, None),
        ("huge int", b"9" * 5000, None), ("bare NaN", b"NaN", None),
        ("NUL key", b'{"a\\u0000": 1}', "a\\x00"), ("surrogate key", b'{"\\udc00": 1}', None),
        ("unknown fields", json.dumps({**PATIENT, "oops": 1, "\u65e5\u672c": 2}).encode(), None),
        ("long key", json.dumps({LONG: 1}).encode(), None), ("BOM", b"\xef\xbb\xbf{}", None),
        ("list of junk", json.dumps([1, "x", None, [], {}]).encode(), None),
        ("list of NaN", b'[{"cancer_type": "NSCLC", "age": NaN}]', "record 1.age")]
    cases = []
    for path in ("/score", "/score/batch", "/score/store"):
        for name, body, fld in bodies:
            cases.append(Case(f"{path} {name}", "post", path,
                              {"content": body, "headers": JSON}, fld))
        cases.append(Case(f"{path} text/plain", "post", path,
                          {"content": b"{}", "headers": {**AUTH, "Content-Type": "text/plain"}}))
        cases.append(Case(f"{path} no content type", "post", path,
                          {"content": json.dumps(PATIENT).encode(), "headers": AUTH}))
    return cases


def query_cases() -> list[Case]:
    """Every query parameter of every endpoint with junk (and unknown models: 404)."""
    params = {"/score": ["model_uri", "report"],
              "/score/batch": ["model_uri", "sort_by", "html"],
              "/score/store": ["model_uri", "sort_by", "html"]}
    bodies = {"/score": PATIENT, "/score/batch": [PATIENT], "/score/store": {}}
    cases = []
    for path, names in params.items():
        for name in names:
            for i, junk in enumerate(QUERY_JUNK):
                cases.append(Case(f"{path}?{name}={i}", "post", path,
                                  {"params": {name: junk}, "json": bodies[path],
                                   "headers": AUTH}, name))
            for raw in ("%ED%A0%80", "%FF%FE", "%00", "%", "%%41", "a%2"):  # not UTF-8 / bad %
                cases.append(Case(f"{path}?{name}={raw}", "post", f"{path}?{name}={raw}",
                                  {"json": bodies[path], "headers": AUTH}, name))
        for uri in ("models:/nope@champion", "models:/icipredict@nope", "models:/icipredict/99"):
            cases.append(Case(f"{path} {uri}", "post", path, {
                "params": {"model_uri": uri}, "json": bodies[path], "headers": AUTH},
                "model_uri", (404,)))
    for path in ("/models", "/schema", "/health", "/openapi.json"):
        cases.append(Case(f"{path} junk query", "get", path, {
            "params": {"__class__": "\x00", "x" * 300: LONG[:3000]}, "headers": AUTH}))
    return cases


def store_cases(ids: list[str]) -> list[Case]:
    """The store query's fields with junk; patient-ID lookups with junk IDs."""
    cases = []
    for name in STORE_QUERY_FIELDS:
        for i, junk in enumerate(STORE_JUNK):
            cases.append(Case(f"store {name}={i}", "post", "/score/store",
                              {"json": {name: junk}, "headers": AUTH}, name))
    cases.append(Case("store unknown field", "post", "/score/store",
                      {"json": {"centre": ["x"]}, "headers": AUTH}, "centre", (422,)))
    for i, junk in enumerate([*JUNK, "P-0000000000000000", " ", ids[0] + "\x00"]):
        cases.append(Case(f"patient_id={i}", "post", "/score",
                          {"json": {"patient_id": junk}, "headers": AUTH}, "patient_id"))
    return cases


def image_cases() -> list[Case]:
    """Image and mask paths that are missing, outside the folder, unreadable or hostile."""
    paths = ["a\x00b", "", "x" * 5000, "../../etc/passwd", "/etc/passwd", "/dev/zero",
             "folder", "junk.nii.gz", "empty.nrrd", "outside/hostname", ".", "~/x",
             "\u65e5\u672c.nii.gz", "\ud800.nii.gz", "file:///etc/passwd", "missing.nii.gz"]
    cases = []
    for i, p in enumerate(paths):
        for key in ("image", "mask"):
            lesion = {"image": "junk.nii.gz", "mask": "junk.nii.gz", key: p}
            cases.append(Case(f"images {key}={i}", "post", "/score", {
                "json": {**PATIENT, "images": [lesion]}, "headers": AUTH}, "images", (422,)))
    cases.append(Case("maf_path", "post", "/score", {
        "json": {**PATIENT, "maf_path": "/etc/passwd"}, "headers": AUTH}, "maf_path", (422,)))
    cases.append(Case("batch maf_path", "post", "/score/batch", {
        "json": [PATIENT, {**PATIENT, "maf_path": "x.maf"}], "headers": AUTH},
        "record 2.maf_path", (422,)))
    return cases


# ------------------------------------------------------------------------------- checks


def _named(errors: list[dict[str, str]], want: str) -> bool:
    """Whether an error names ``want`` (or a path inside it, or it inside a batch record)."""
    for e in errors:
        f = e["field"]
        if f == want or f.startswith((want + ".", want + "[")) or f.endswith("." + want) or (
                f".{want}." in f):
            return True
    return False


def check(client: TestClient, case: Case) -> str | None:
    """The problem with the answer to ``case``, or None when it is acceptable."""
    kwargs = dict(case.kwargs)
    if "json" in kwargs:  # as ASCII JSON text: httpx cannot send an unpaired surrogate raw
        kwargs["content"] = json.dumps(kwargs.pop("json")).encode()
        kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/json"}
    r = getattr(client, case.method)(case.path, **kwargs)
    if r.status_code >= 500:
        return f"{case.name}: HTTP {r.status_code} {r.text[:200]}"
    if case.status is not None and r.status_code not in case.status:
        return f"{case.name}: HTTP {r.status_code}, expected {case.status}: {r.text[:200]}"
    if r.status_code < 400:
        return None
    body = r.json()
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors or not all(isinstance(e.get("field"), str) and e["field"] for e in errors):
        return f"{case.name}: HTTP {r.status_code} names no field: {r.text[:200]}"
    if case.field is not None and not _named(errors, case.field):
        return f"{case.name}: HTTP {r.status_code} does not name {case.field!r}: {errors}"
    if LONG in r.text:
        return f"{case.name}: the answer echoes a 100 kB value"
    return None


def run(client: TestClient, cases: list[Case]) -> list[str]:
    """Every failed case (all are sent, so one run shows every problem)."""
    return [p for p in (check(client, c) for c in cases) if p is not None]


# ------------------------------------------------------------------------------- tests


def test_seen_cases(app_env):
    """The cases issue 11 reported as HTTP 500 (or silently accepted)."""
    c = app_env["client"]
    cases = [
        Case("age list", "post", "/score", {"json": {**PATIENT, "age": [1, 2]}, "headers": AUTH},
             "age", (422,)),
        Case("NUL image", "post", "/score", {"json": {**PATIENT, "images": [
            {"image": "ct\x00.nii.gz", "mask": "m.nii.gz"}]}, "headers": AUTH},
             "images.0.image", (422,)),
        Case("unknown model", "post", "/score", {"json": PATIENT, "headers": AUTH,
                                                 "params": {"model_uri": "models:/nope@x"}},
             "model_uri", (404,)),
        Case("sort_by", "post", "/score/batch", {"json": [PATIENT], "headers": AUTH,
                                                 "params": {"sort_by": "__class__"}},
             "sort_by", (422,)),
        Case("NaN age", "post", "/score", {"content": json.dumps(
            {**PATIENT, "age": float("nan")}).encode(), "headers": JSON}, "age", (422,)),
        Case("'NaN' age", "post", "/score", {"json": {**PATIENT, "age": "NaN"},
                                             "headers": AUTH}, "age", (422,)),
    ]
    assert run(c, cases) == []


def test_record_fields_fuzz(app_env):
    assert run(app_env["client"], record_cases()) == []


def test_bodies_fuzz(app_env):
    assert run(app_env["client"], body_cases()) == []


def test_query_parameters_fuzz(app_env):
    assert run(app_env["client"], query_cases()) == []


def test_store_query_and_patient_id_fuzz(app_env):
    assert run(app_env["client"], store_cases(app_env["ids"])) == []


def test_image_paths_fuzz(app_env):
    assert run(app_env["client"], image_cases()) == []


def test_valid_requests_still_score(app_env):
    """The screening refuses nothing valid: unicode text, units, a stored patient, a query."""
    c = app_env["client"]
    rec = {**PATIENT, "patient_id": "\u65e5\u672c-\U0001f9ec", "albumin": "38 g/L"}
    r = c.post("/score", json=rec, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["patient_id"] == rec["patient_id"]
    r = c.post("/score", json={"patient_id": app_env["ids"][0]}, headers=AUTH)
    assert r.status_code == 200, r.text
    r = c.post("/score/store", json={}, headers=AUTH, params={"sort_by": "risk"})
    assert r.status_code == 200 and len(r.json()["scores"]) == len(app_env["ids"])


def test_screen_json_names_the_path():
    body = b'[{"a": 1}, {"images": [{"image": "x\\u0000"}], "age": NaN, "k\\ud800": 1}]'
    fields = {p["field"]: p["message"] for p in screen_json(body)}
    assert set(fields) == {"record 2.images.0.image", "record 2.age", "record 2.k\\ud800"}
    assert "NaN is not JSON" in fields["record 2.age"]
    assert screen_json(b"") == [] and screen_json(b'{"age": 1e308}') == []
    value: Any = 1
    for _ in range(MAX_DEPTH + 3):
        value = [value]
    deep = screen_json(json.dumps({"a": value}).encode())
    assert len(deep) == 1 and deep[0]["field"] == "a" + ".0" * (MAX_DEPTH - 1)
    assert "nested deeper" in deep[0]["message"]


# ------------------------------------------------------------------------------- store locks


def test_store_lock_error_is_503_with_retry_after(app_env, monkeypatch):
    import icipredict.predict.service as service
    from icipredict.cohort.store import StoreLockedError

    def busy(*args: Any, **kwargs: Any) -> None:
        raise StoreLockedError("another process holds the cohort store")

    monkeypatch.setattr(service, "score_stored", busy)
    monkeypatch.setattr(service, "score_store_list", busy)
    c = app_env["client"]
    for path, body in (("/score", {"patient_id": app_env["ids"][0]}), ("/score/store", {})):
        r = c.post(path, json=body, headers=AUTH)
        assert r.status_code == 503, (path, r.text)
        assert int(r.headers["Retry-After"]) > 0
        assert r.json()["errors"][0]["field"] == "(store)"


def test_store_held_by_another_process_is_503(app_env, monkeypatch):
    """A real second process holding the DuckDB write lock: 503, not a traceback."""
    from icipredict.cohort.store import LOCK_TIMEOUT_ENV

    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "0.3")  # the store's wait before it gives up
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(app_env["store"].path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        c = app_env["client"]
        for path, body in (("/score", {"patient_id": app_env["ids"][0]}),
                           ("/score/store", {})):
            r = c.post(path, json=body, headers=AUTH)
            assert r.status_code == 503, (path, r.text)
            assert "Retry-After" in r.headers
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert c.post("/score/store", json={}, headers=AUTH).status_code == 200


def test_last_resort_500_is_json_without_internals(app_env, monkeypatch, caplog):
    """An unforeseen failure: a JSON 500 naming nothing internal; the log has type and line."""
    import logging

    import icipredict.predict.service as service

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("internal detail 71.234")

    monkeypatch.setattr(service, "score", broken)
    caplog.set_level(logging.INFO)
    r = app_env["client"].post("/score", json=PATIENT, headers=AUTH)
    assert r.status_code == 500
    assert r.json()["errors"][0]["field"] == "(server)"
    assert "71.234" not in r.text and "RuntimeError" not in r.text
    assert "RuntimeError" in caplog.text and "71.234" not in caplog.text
