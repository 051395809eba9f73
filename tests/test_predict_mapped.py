"""Scoring a centre's own file through its column map (predict-list FILE --column-map MAP, and
POST /score/mapped): rows in the centre's format, the centre's own IDs in the output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from board_model import expected_probability, setup_registry
from icipredict.cli import app
from icipredict.cohort.schema import CohortError

DATA = Path(__file__).parent / "data"
FILE, MAP = DATA / "chowell_format.csv", DATA / "chowell_format_map.yaml"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    return setup_registry(tmp_path_factory.mktemp("mapped"))


def _expected(raw: pd.DataFrame) -> dict[str, float]:
    return {str(r.SAMPLE_ID): expected_probability(r.TMB, r.Albumin, r.NLR, r.Age)
            for r in raw.itertuples()}


def test_cli_scores_the_centres_file_and_keeps_its_ids(model, tmp_path):
    out = tmp_path / "list"
    res = CliRunner().invoke(app, ["predict-list", str(FILE), "--column-map", str(MAP),
                                   "--model", model, "--out-dir", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "list.csv", dtype={"patient_id": str})
    want = _expected(pd.read_csv(FILE))
    assert set(table["patient_id"]) == set(want)  # the file's own IDs, no pseudonyms
    assert not table["patient_id"].str.startswith("P-").any()
    got = dict(zip(table["patient_id"], table["response_probability"], strict=True))
    for pid, p in want.items():
        assert got[pid] == pytest.approx(p, abs=1e-6), pid
    assert (out / "list.html").read_text().count("9001") >= 1


def test_units_and_codings_come_from_the_map(model, tmp_path):
    from icipredict.predict.mapped import score_mapped_file

    # The same patients with albumin in g/L: a map declaring g/L gives the same scores.
    raw = pd.read_csv(FILE)
    raw["Albumin"] = raw["Albumin"] * 10
    raw.to_csv(tmp_path / "gl.csv", index=False)
    (tmp_path / "gl.yaml").write_text(MAP.read_text().replace(
        "albumin: {column: Albumin, unit: g/dL}", "albumin: {column: Albumin, unit: g/L}"))
    a = {s.patient_id: s.response.probability for s in score_mapped_file(FILE, MAP, model)}
    b = {s.patient_id: s.response.probability
         for s in score_mapped_file(tmp_path / "gl.csv", tmp_path / "gl.yaml", model)}
    assert a == pytest.approx(b, abs=1e-12) and set(a) == {"9001", "9002", "9003", "9004"}


def test_bad_value_names_file_row_and_column(model, tmp_path):
    from icipredict.predict.mapped import score_mapped_file

    raw = pd.read_csv(FILE)
    raw.loc[2, "Age"] = 250
    raw.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(CohortError) as err:
        score_mapped_file(tmp_path / "bad.csv", MAP, model)
    text = str(err.value)
    assert "bad.csv" in text and "Age" in text


def test_map_of_several_files_is_refused(tmp_path):
    from icipredict.cohort.mapped import load_mapped_file

    text = MAP.read_text()
    files = text[text.index("  - path"):]
    (tmp_path / "two.yaml").write_text(text + files.replace("  - path: chowell_format.csv",
                                                            "  - path: other.csv", 1))
    with pytest.raises(CohortError, match="describes 2 files"):
        load_mapped_file(FILE, tmp_path / "two.yaml")


def test_service_scores_rows_in_the_centres_columns(model, monkeypatch):
    from fastapi.testclient import TestClient

    from icipredict.predict.service import create_app

    client = TestClient(create_app(model, token="t"))
    rows = pd.read_csv(FILE).to_dict(orient="records")
    res = client.post("/score/mapped", json={"column_map": MAP.read_text(), "rows": rows},
                      headers={"Authorization": "Bearer t"})
    assert res.status_code == 200, res.text
    got = {s["patient_id"]: s["response"]["probability"] for s in res.json()["scores"]}
    want = _expected(pd.read_csv(FILE))
    assert set(got) == set(want)
    for pid, p in want.items():
        assert got[pid] == pytest.approx(p, abs=1e-6)
    with_maf = MAP.read_text().replace("files:", "mutations: x.maf\nfiles:")
    res = client.post("/score/mapped", json={"column_map": with_maf, "rows": rows},
                      headers={"Authorization": "Bearer t"})
    assert res.status_code in (400, 422) and "MAF" in res.text


def test_real_chowell_test_file_keeps_its_ids(model, chowell_dir, tmp_path):
    from icipredict.predict.mapped import score_mapped_file

    src = chowell_dir / "chowell2022_test.csv"
    shutil.copy(MAP, tmp_path / "map.yaml")
    scores = score_mapped_file(src, tmp_path / "map.yaml", model)
    ids = set(pd.read_csv(src)["SAMPLE_ID"].astype(str))
    assert len(scores) == 295 and {s.patient_id for s in scores} == ids
