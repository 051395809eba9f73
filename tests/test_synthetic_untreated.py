"""The synthetic untreated arm: its own random stream (the treated network does not change) and
a known score x treatment interaction that the report's Cox model recovers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from icipredict.evaluation.external import treatment_interaction
from icipredict.synthetic import generate_network
from icipredict.synthetic.patients import simulate_patients
from icipredict.synthetic.untreated import (
    TRUE_INTERACTION,
    simulate_untreated,
    true_interaction,
)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_untreated_arm_leaves_the_treated_network_unchanged(tmp_path):
    plain = generate_network(tmp_path / "plain", n_patients=60, seed=7)
    both = generate_network(tmp_path / "both", n_patients=60, seed=7, untreated=40)
    a, b = _hashes(plain.out), _hashes(both.out)
    extra = set(b) - set(a)
    assert extra == {"lakeside/clinical.csv", "lakeside/column_map.yaml",
                     "truth_untreated.parquet"}
    changed = {k for k in a if a[k] != b[k]}
    assert changed == {"truth.yaml"}  # it gains the untreated_arm section, nothing else
    ta = yaml.safe_load((plain.out / "truth.yaml").read_text())
    tb = yaml.safe_load((both.out / "truth.yaml").read_text())
    arm = tb.pop("untreated_arm")
    assert ta == tb
    assert arm["patients"] == 40 and arm["no_ici_os_log_hr"] > 0
    assert arm["predictive"]["cox_interaction_of_true_score"]["interaction_hr_ratio"] == \
        TRUE_INTERACTION["interaction_hr_ratio"]
    from icipredict.cohort.loaders import load_source

    cohort = load_source(both.sources["lakeside"])
    assert len(cohort.patients) == 40 and cohort.outcomes["os_event"].notna().all()


def test_untreated_stream_is_independent_and_reproducible():
    a, b = simulate_untreated(50, 7), simulate_untreated(50, 7)
    assert a.equals(b)
    treated = simulate_patients(50, 7)
    assert not np.allclose(a["age"], treated["age"])  # not the treated patients' draws
    assert (simulate_untreated(50, 8)["age"] != a["age"]).any()


def test_interaction_is_recovered_on_the_synthetic_arms():
    """Cox z + treated + z x treated on the true response score recovers the known
    interaction: its 95% CI covers the truth and excludes 1 (the score is predictive)."""
    treated, untreated = simulate_patients(3000, 7), simulate_untreated(3000, 7)
    risk = -np.r_[treated["lp_response"], untreated["lp_response"]]
    res = treatment_interaction(np.r_[treated["os_months"], untreated["os_months"]],
                                np.r_[treated["os_event"], untreated["os_event"]], risk,
                                np.r_[np.ones(3000), np.zeros(3000)], n_boot=100)
    ratio = res["interaction_hr_ratio"]
    truth = TRUE_INTERACTION["interaction_hr_ratio"]
    assert ratio["ci_low"] <= truth <= ratio["ci_high"]
    assert ratio["ci_low"] > 1 and res["predictive"]
    # the score ranks survival better under ICI than without it
    assert res["c_treated"]["value"] > res["c_untreated"]["value"]


@pytest.mark.slow
def test_stored_truth_matches_a_fresh_estimate():
    """TRUE_INTERACTION (n = 40,000 per arm) against an independent smaller population: the
    Monte-Carlo SE of the log ratio at n = 10,000 is about 0.02, so 0.08 is four SEs."""
    fresh = true_interaction(seed=1, n=10_000)
    assert np.log(fresh["interaction_hr_ratio"]) == pytest.approx(
        np.log(TRUE_INTERACTION["interaction_hr_ratio"]), abs=0.08)
