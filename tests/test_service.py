"""REST API: auth, scoring, validation errors, size limit, no patient data in logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from board_model import setup_registry
from icipredict.predict.service import create_app

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PATIENT = {"patient_id": "P1", "cancer_type": "NSCLC", "tmb": 20, "albumin": "38 g/L",
           "nlr": 3, "age": 70}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    uri = setup_registry(tmp_path_factory.mktemp("registry"))
    return TestClient(create_app(uri, token=TOKEN, max_body_bytes=20_000))


def test_health_is_open_everything_else_needs_the_token(client):
    assert client.get("/health").json() == {"status": "ok"}
    for method, path in (("post", "/score"), ("post", "/score/batch"), ("get", "/models")):
        r = getattr(client, method)(path, **({"json": PATIENT} if method == "post" else {}))
        assert r.status_code == 401, path
        r = getattr(client, method)(path, headers={"Authorization": "Bearer wrong"},
                                    **({"json": PATIENT} if method == "post" else {}))
        assert r.status_code == 401, path


def test_no_token_configured_refuses(tmp_path):
    app = create_app("models:/none@champion", token="")
    r = TestClient(app).post("/score", json=PATIENT, headers={"Authorization": "Bearer "})
    assert r.status_code in (401, 403)


def test_score_one_and_report(client):
    r = client.post("/score?report=true", json=PATIENT, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert 0 < body["response"]["probability"] < 1
    assert body["model"]["alias"] == "champion"
    assert body["report_html"].startswith("<!doctype html>")
    assert "NaN" not in r.text and "Infinity" not in r.text


def test_batch_sorted(client):
    rows = [{"patient_id": "A", "cancer_type": "MEL", "tmb": 1},
            {"patient_id": "B", "cancer_type": "MEL", "tmb": 50}]
    r = client.post("/score/batch?html=true", json=rows, headers=AUTH)
    assert r.status_code == 200
    assert [s["patient_id"] for s in r.json()["scores"]] == ["B", "A"]
    assert "weekly-list" in r.json()["list_html"]


def test_invalid_record_is_422_with_fields(client):
    r = client.post("/score", json={"cancer_type": "??", "albumin": 38, "oops": 1},
                    headers=AUTH)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"cancer_type", "albumin", "oops"}
    r = client.post("/score", content=b"not json", headers={**AUTH,
                                                            "Content-Type": "application/json"})
    assert r.status_code == 422


def test_body_size_limit_413(client):
    big = {**PATIENT, "radiomics": {f"f{i}": 1.0 for i in range(2000)}}
    r = client.post("/score", json=big, headers=AUTH)
    assert r.status_code == 413


def test_models_and_docs(client):
    r = client.get("/models", headers=AUTH)
    assert r.json()["default"]["name"] == "icipredict"
    assert r.json()["risk_groups"]["cut_points"]
    spec = client.get("/openapi.json", headers=AUTH).json()
    assert spec["paths"]["/score"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {"type": "http",
                                                                   "scheme": "bearer"}
    assert "Score patient" in client.get("/board").text  # a static page: it asks for the token


def test_docs_pages_are_open_and_offline_the_description_needs_the_token(client):
    """The pages and their assets hold no data (open, served locally, no CDN); the OpenAPI
    description they fetch needs the token, which each page asks for."""
    for path, viewer in (("/docs", "/docs/static/swagger-ui-bundle.js"),
                         ("/redoc", "/docs/static/redoc.standalone.js")):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert viewer in page.text and 'id="token"' in page.text
        assert "Bearer " in page.text and "/openapi.json" in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing external
        asset = client.get(viewer)
        assert asset.status_code == 200 and len(asset.content) > 100_000, viewer
    css = client.get("/docs/static/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for bad in ("/docs/static/../service.py", "/docs/static/", "/docs/static/nope.js"):
        assert client.get(bad).status_code == 404, bad
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/openapi.json", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401
    r = TestClient(create_app("models:/none@champion", token="")).get("/openapi.json")
    assert r.status_code == 401


def test_docs_without_the_assets_package(monkeypatch):
    """Without fastapi-offline the pages are absent (never a CDN); the description remains."""
    from icipredict.predict import api_docs

    monkeypatch.setattr(api_docs, "assets_folder", lambda: None)
    c = TestClient(create_app("models:/none@champion", token=TOKEN))
    assert c.get("/docs").status_code == 404
    assert c.get("/openapi.json", headers=AUTH).status_code == 200


def test_no_patient_values_in_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    marker = {**PATIENT, "patient_id": "ZZ-UNIQUE-77", "age": 71.234}
    client.post("/score", json=marker, headers=AUTH)
    client.post("/score", json={**marker, "cancer_type": "??"}, headers=AUTH)
    text = caplog.text
    assert "ZZ-UNIQUE-77" not in text and "71.234" not in text
    assert "/score" in text  # the request itself is logged


# ------------------------------------------------------------------ stored patients and images


@pytest.fixture(scope="module")
def stored_client(tmp_path_factory):
    from board_store import small_store

    net = small_store(tmp_path_factory)
    uri = setup_registry(tmp_path_factory.mktemp("registry-store"))
    images = tmp_path_factory.mktemp("image-root")
    app = create_app(uri, token=TOKEN, store=net["store"], image_root=images,
                     cache_dir=net["cache"])
    return {"client": TestClient(app), "net": net, "uri": uri, "images": images}


def test_score_by_patient_id_from_the_store(stored_client):
    from icipredict.predict.scorer import score_stored

    c, net = stored_client["client"], stored_client["net"]
    pid = str(net["cohort"].imaging["patient_id"].iloc[0])
    r = c.post("/score", json={"patient_id": pid}, headers=AUTH)
    assert r.status_code == 200, r.text
    expected = score_stored(pid, net["store"], stored_client["uri"], cache_dir=net["cache"])
    body = r.json()
    assert body["patient_id"] == pid
    assert body["response"] == expected.to_dict()["response"]
    assert body["completeness"]["imaging"] == 1.0
    r = c.post("/score", json={"patient_id": "P-0000000000000000"}, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "patient_id"


def test_patient_id_without_a_store_is_422(client):
    r = client.post("/score", json={"patient_id": "P-0000000000000000"}, headers=AUTH)
    assert r.status_code == 422
    assert "no cohort store" in r.json()["errors"][0]["message"]


def test_record_images_only_under_the_image_root(client, stored_client):
    lesion = {"image": "ct.nii.gz", "mask": "mask.nii.gz"}
    # no image folder configured: images refused, nothing opened
    r = client.post("/score", json={**PATIENT, "images": [lesion]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "images"
    r = client.post("/score/batch", json=[PATIENT, {**PATIENT, "images": [lesion]}],
                    headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "record 2.images"
    # with an image folder: missing files and paths outside it are record problems
    c = stored_client["client"]
    outside = {"image": "/etc/hostname", "mask": "mask.nii.gz"}
    r = c.post("/score", json={**PATIENT, "images": [lesion, outside]}, headers=AUTH)
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"images.0.image", "images.1.image"}
    assert "not found" in errors["images.0.image"]
    assert "outside" in errors["images.1.image"]


def test_record_images_are_scored(stored_client):
    """Image + mask files under the image folder fill the record's radiomics."""
    import shutil

    net, root = stored_client["net"], stored_client["images"]
    row = net["cohort"].imaging.dropna(subset=["image_uri"]).iloc[0]
    shutil.copy(row["image_uri"], root / "ct.nii.gz")
    shutil.copy(row["mask_uri"], root / "m.nii.gz")
    rec = {**PATIENT, "images": [{"image": "ct.nii.gz", "mask": "m.nii.gz"}]}
    r = stored_client["client"].post("/score", json=rec, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["completeness"]["imaging"] == 1.0


def test_weekly_list_as_a_store_query(stored_client, client):
    from icipredict.predict.scorer import score_stored

    c, net = stored_client["client"], stored_client["net"]
    pats = net["cohort"].patients
    centre = pats["centre"].iloc[0]
    r = c.post("/score/store", json={"centres": [centre]}, headers=AUTH,
               params={"html": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [s["patient_id"] for s in body["scores"]]
    assert sorted(ids) == sorted(pats.loc[pats["centre"] == centre, "patient_id"])
    probs = [s["response"]["probability"] for s in body["scores"]]
    assert probs == sorted(probs, reverse=True)
    assert body["scores"][0]["response"] == score_stored(
        ids[0], net["store"], stored_client["uri"], cache_dir=net["cache"]).to_dict()["response"]
    assert ids[0] in body["list_html"]
    # bad queries: field-named 422s; no store: 422; no token: 401
    r = c.post("/score/store", json={"started_from": "next week"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "started_from"
    r = c.post("/score/store", json={"patient_ids": ["P-0000000000000000"]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "patient_ids"
    r = c.post("/score/store", json={"centres": ["typo"]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "centres"
    r = c.post("/score/store", json={"centre": ["typo"]}, headers=AUTH)
    assert r.status_code == 422
    r = client.post("/score/store", json={}, headers=AUTH)
    assert r.status_code == 422 and "no cohort store" in r.json()["errors"][0]["message"]
    assert c.post("/score/store", json={}).status_code == 401


def test_brca_registry_endpoint(stored_client, client):
    from icipredict.cohort.brca import registry_from_store
    from icipredict.cohort.store import CohortStore

    c, net = stored_client["client"], stored_client["net"]
    assert c.get("/brca").status_code == 401  # token-protected
    r = c.get("/brca", headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = registry_from_store(CohortStore(net["store"]))
    assert len(body["registry"]) == len(expected.somatic)
    assert body["kb_version"] == expected.kb_version
    assert {row["classification"] for row in body["registry"]} <= {
        "pathogenic", "likely_pathogenic", "vus", "likely_benign", "benign"}
    assert {"outcomes", "co_alterations", "tmb_msi", "germline"} <= set(body)
    r = client.get("/brca", headers=AUTH)
    assert r.status_code == 422 and "no cohort store" in r.json()["errors"][0]["message"]
