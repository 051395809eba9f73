"""`predict-list` input: the shipped example list parses; an unusable list file is one clear
error naming it (exit 2), never a pandas traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from icipredict.cli import app
from icipredict.cohort.schema import CohortError
from icipredict.predict.record import parse_records, read_record_list

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "weekly.csv"
runner = CliRunner()


def test_shipped_example_list_parses():
    records = parse_records(read_record_list(EXAMPLE), source=str(EXAMPLE))
    assert [r.patient_id for r in records] == ["W-01", "W-02", "W-03"]
    assert records[0].albumin == pytest.approx(3.8)  # "38 g/L" -> g/dL
    assert records[2].ecog is None                   # empty cell: missing
    assert [getattr(m, "gene", m) for m in records[2].mutations] == ["STK11", "KEAP1"]


@pytest.mark.parametrize("name, content, says", [
    ("missing.csv", None, "does not exist"),
    ("folder", "DIR", "got a folder"),
    ("empty.csv", "", "is empty"),
    ("bad.json", "[{", "not valid JSON"),
    ("object.json", "{}", "JSON list"),
    ("latin1.csv", b"patient_id,cancer_type\nA,NSCLC\xe9\n", "not UTF-8"),
])
def test_unusable_list_file_is_one_line_naming_it(tmp_path, name, content, says):
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(CohortError, match=says):
        read_record_list(path)
    result = runner.invoke(app, ["predict-list", str(path), "--out-dir", str(tmp_path / "out"),
                                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
                           env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(path) in lines[0]
    assert says in lines[0] and "Traceback" not in result.output
