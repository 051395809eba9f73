"""The synthetic network through the loaders into the feature stage: TMB equals the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icipredict.cohort.loaders import load_source
from icipredict.features.genomic import compute_tmb, gene_flags
from icipredict.synthetic import generate_network


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("net")
    net = generate_network(out, n_patients=240, seed=11)
    truth = pd.read_parquet(out / "truth.parquet")
    cohorts = {c: load_source(src, centre=c) for c, src in net.sources.items()}
    return net, truth, cohorts


def test_tmb_from_every_centres_maf_equals_generator_truth(network) -> None:
    _, truth, cohorts = network
    checked = 0
    for centre, cohort in cohorts.items():
        if cohort.mutations.empty:
            continue
        tmb = compute_tmb(cohort.mutations, cohort.samples)
        t = truth[(truth["centre"] == centre) & truth["sequenced"].astype(bool)]
        t = t.set_index(t["source_sample_id"].astype(str))
        # samples with at least one MAF row (a sequenced sample with no variant has no row at all)
        got = tmb["tmb_computed"].dropna()
        common = got.index.intersection(t.index)
        assert len(common) >= 0.8 * len(got), centre
        np.testing.assert_allclose(got.loc[common].to_numpy(),
                                   t.loc[common, "tmb_true"].to_numpy(), rtol=1e-9,
                                   err_msg=f"TMB differs from truth at {centre}")
        checked += len(common)
    assert checked > 150


def test_gene_not_on_panel_is_not_profiled(network) -> None:
    """harbour's IMPACT341 lacks B2M: its samples get NaN for B2M, never 0."""
    _, _, cohorts = network
    c = cohorts["harbour"]
    flags = gene_flags(c.mutations, c.samples, c.panel_genes, ["B2M", "TP53"])
    on341 = c.samples.loc[c.samples["panel"] == "MSK-IMPACT341", "sample_id"].astype(str)
    assert len(on341) > 0
    sub = flags.loc[flags.index.intersection(on341)]
    assert sub["mut_B2M"].isna().all()
    # TP53 is on the panel: every sample with MAF rows is profiled (0 or 1)
    with_rows = sub.index.intersection(c.mutations["sample_id"].astype(str).unique())
    assert len(with_rows) > 0
    assert sub.loc[with_rows, "mut_TP53"].isin([0.0, 1.0]).all()


def test_a_later_export_never_reuses_source_ids() -> None:
    """New patients of the same centres get new source IDs (else pseudonyms would collide)."""
    from icipredict.synthetic import simulate_patients

    first = simulate_patients(120, seed=1)
    later = simulate_patients(60, seed=2, first_id=120)
    keys = lambda df: set(zip(df["centre"], df["source_patient_id"], strict=True))  # noqa: E731
    assert keys(first).isdisjoint(keys(later))
    # the default keeps the original numbering (byte-identical files for the same seed)
    assert simulate_patients(120, seed=1)["source_patient_id"].equals(first["source_patient_id"])
