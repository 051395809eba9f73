"""The synthetic network's BRCA1/2 carriers of known truth, through the store into the registry.

The generator writes what the registry must find (``brca_truth.parquet``: class, rule, origin,
germline follow-up, second hit per row); the network is ingested centre by centre and
``icipredict cohort brca --csv/--report`` must give exactly that, with the same counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from icipredict import synthetic as syn
from icipredict.cli import app
from icipredict.cohort.pseudonym import pseudonym
from icipredict.synthetic.brca import CASES, brca_rng

N, SEED = 200, 11
KEYS = ["centre", "patient_id", "gene", "hgvsp_short", "variant_classification"]
ANSWER = ["classification", "rule", "origin", "germline_follow_up", "second_hit",
          "allelic_status"]


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("brcanet")
    syn.generate_network(out, n_patients=N, seed=SEED)
    return out


@pytest.fixture(scope="module")
def truth(net: Path) -> pd.DataFrame:
    return pd.read_parquet(net / "brca_truth.parquet")


@pytest.fixture(scope="module")
def store(net: Path, tmp_path_factory) -> Path:
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore

    path = tmp_path_factory.mktemp("brcastore") / "s.duckdb"
    store = CohortStore(path)
    for c in yaml.safe_load((net / "network.yaml").read_text())["centres"]:
        cohort = load_source(net / c["source"], centre=c["name"])
        store.ingest(cohort, centre=c["name"], content_hash=c["name"], source=c["source"])
    return path


def _expected(truth: pd.DataFrame, germline: bool) -> pd.DataFrame:
    t = truth[(truth["origin"] == "germline") == germline].copy()
    t["patient_id"] = [pseudonym(p, centre=c) for p, c in  # the suite's key, as the store's
                       zip(t["source_patient_id"], t["centre"], strict=True)]
    return t


def _rows(df: pd.DataFrame) -> list[tuple]:
    df = df[KEYS + ANSWER].astype(object).where(df[KEYS + ANSWER].notna(), None)
    df["germline_follow_up"] = df["germline_follow_up"].map(
        lambda v: str(v).lower() == "true")
    return sorted(df.itertuples(index=False, name=None), key=repr)


def test_every_case_is_placed_in_harbour_with_its_own_stream(net: Path,
                                                             truth: pd.DataFrame) -> None:
    placed = truth[truth["case"] != "latent_driver"]
    assert set(placed["case"]) == {c.name for c in CASES}
    assert (placed["centre"] == "harbour").all()
    assert placed.groupby("case")["source_patient_id"].nunique().eq(2).all()
    # the benign polymorphism, a VUS, germline rows and each second hit are among them
    assert ("BRCA2", "p.K3326*", "benign") in set(zip(placed["gene"], placed["hgvsp_short"],
                                                      placed["classification"], strict=True))
    assert {"vus", "pathogenic", "benign"} <= set(placed["classification"])
    assert (placed["origin"] == "germline").sum() == 4
    assert {"cna_deep_deletion", "cna_loss", "second_variant", "none_seen"} <= set(
        placed["second_hit"].dropna())
    # the stream is spawned from the seed, not the network's main generator
    assert brca_rng(SEED).random() != np.random.default_rng(SEED).random()
    # harbour carries a cBioPortal discrete CNA file with its meta file
    meta = (net / "harbour" / "meta_CNA.txt").read_text()
    assert "datatype: DISCRETE" in meta and "data_filename: data_cna.txt" in meta


def test_designed_variants_leave_tmb_as_drawn(net: Path) -> None:
    t = pd.read_parquet(net / "truth.parquet")
    seq = t[t["sequenced"]]
    sizes = seq["panel_size_mb"]
    assert (seq["n_nonsynonymous"] == np.rint(seq["tmb_latent"] * sizes)).all()
    somatic = {c.name for c in CASES if any(v.status != "Germline" for v in c.variants)}
    assert len(somatic) == 5
    designed = t[t["brca_case"].isin(somatic)]
    assert len(designed) == 2 * len(somatic)
    assert ((designed["mut_BRCA1"] == 1) | (designed["mut_BRCA2"] == 1)).all()


def test_registry_matches_the_truth(net: Path, store: Path, truth: pd.DataFrame,
                                   tmp_path: Path) -> None:
    out, html = tmp_path / "brca.csv", tmp_path / "brca.html"
    result = CliRunner().invoke(app, ["cohort", "brca", "--store", str(store), "--csv", str(out),
                                      "--report", str(html)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    somatic = pd.read_csv(out, dtype={"hgvsp_short": object})
    germline = pd.read_csv(tmp_path / "brca_germline.csv", dtype={"hgvsp_short": object})
    exp_s, exp_g = _expected(truth, False), _expected(truth, True)
    assert _rows(somatic) == _rows(exp_s)
    assert _rows(germline) == _rows(exp_g)
    # the printed counts are the truth's
    plp = exp_s[exp_s["classification"] == "pathogenic"]
    assert (f"{len(exp_s)} variant(s) in {exp_s['patient_id'].nunique()} patient(s); "
            f"{plp['patient_id'].nunique()} pathogenic carrier(s)") in result.output
    doc = yaml.safe_load((net / "truth.yaml").read_text())["brca_registry"]
    assert doc["somatic_rows"] == len(somatic) and doc["germline_rows"] == len(germline)
    assert doc["pathogenic_carriers"] == plp["patient_id"].nunique()
    assert "Germline BRCA1/2 variants (not somatic carriers): 4" in result.output
    assert html.is_file()


def test_patient_classes_follow_the_truth(store: Path, truth: pd.DataFrame) -> None:
    from icipredict.cohort.brca import analyse
    from icipredict.cohort.brca.registry import read_tables
    from icipredict.cohort.store import CohortStore

    patients = analyse(read_tables(CohortStore(store))).patients.set_index("patient_id")
    exp = _expected(truth, False)
    for case, cls in (("biallelic_deep_deletion", "pathogenic_biallelic"),
                      ("biallelic_cna_loss", "pathogenic_biallelic"),
                      ("biallelic_second_variant", "pathogenic_biallelic"),
                      ("pathogenic_monoallelic", "pathogenic_mono_unknown"),
                      ("vus_missense", "vus"), ("benign_polymorphism", "none")):
        ids = exp.loc[exp["case"] == case, "patient_id"].unique()
        assert (patients.loc[ids, "brca_class"] == cls).all(), case
    germ = _expected(truth, True)["patient_id"].unique()
    assert patients.loc[germ, "germline_carrier"].astype(bool).all()
    assert (patients.loc[germ, "brca_class"] == "none").all()  # germline never somatic
