"""The models recover the synthetic generator's TRUE effects from the OBSERVED data.

The network is generated, every centre goes through the loaders (units, event coding, NLR from
counts, TMB from the MAFs are all harmonised there), and the sequenced patients with the needed
covariates are analysed:

- OS: :class:`~icipredict.modeling.survival.CoxPHSurvival` (penalizer ~ 0) on the covariates of
  the generator's OS model (``OS_COEF``) plus cancer-type dummies (the generator adds a
  cancer-type log-HR). Cox PH is the right model for the generator's Weibull PH, so every
  log-HR must have the true sign and lie within ``COX_TOL`` of the truth.
- Response: an (unpenalised) logistic regression on the main observed terms of
  ``RESPONSE_COEF`` plus cancer-type dummies. The latent texture score, IFN-pathway loss and the
  centre offsets are unobserved here, which attenuates logistic coefficients a little
  (non-collapsibility), hence a wider tolerance ``LOGIT_TOL``.

The true coefficients are read from the generator's ``truth.yaml``, never written in this test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sksurv.util import Surv

from icipredict.cohort.loaders import load_source
from icipredict.features.builder import patient_frame
from icipredict.modeling.survival import CoxPHSurvival
from icipredict.synthetic import generate_network

#: Largest allowed |estimated - true| log hazard ratio (about 3 standard errors at n ~ 2,300).
COX_TOL = 0.15
#: Largest allowed |estimated - true| log odds ratio (about 3 SE, plus omitted-covariate shrinkage).
LOGIT_TOL = 0.25
#: Response terms checked (the main observed ones; interactions and latent terms are not).
RESPONSE_TERMS = ("log1p_tmb", "albumin_c", "log_nlr_c", "prior_therapy", "ecog", "combination")


def _design(df: pd.DataFrame) -> pd.DataFrame:
    """Observed covariates named as the generator's terms, plus cancer-type dummies."""
    x = pd.DataFrame(index=df.index)
    x["responder"] = df["responder"].astype(float)
    x["log_nlr_c"] = np.log(df["nlr"].astype(float) / 4.0)
    x["albumin_c"] = df["albumin"].astype(float) - 3.8
    x["ecog"] = df["ecog"].astype(float)
    x["age10_c"] = (df["age"].astype(float) - 63.0) / 10.0
    x["prior_therapy"] = df["prior_systemic_therapy"].astype(float)
    x["log1p_tmb"] = np.log1p(df["tmb"].astype(float))
    x["stk11_nsclc"] = ((df["cancer_type"] == "NSCLC") & (df["mut_STK11"] == 1)).astype(float)
    x["combination"] = (df["drug_class"] == "combination").astype(float)
    types = pd.get_dummies(df["cancer_type"].astype(str), prefix="ct", dtype=float)
    # NSCLC (the largest type and the generator's response reference) is the baseline.
    return pd.concat([x, types.drop(columns=["ct_NSCLC"])], axis=1)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    out = tmp_path_factory.mktemp("effects")
    net = generate_network(out, n_patients=3000, seed=7)
    frames = [patient_frame(load_source(src, centre=c), include_outcomes=True)
              for c, src in net.sources.items()]
    df = pd.concat(frames)
    needed = ["tmb", "nlr", "albumin", "ecog", "age", "prior_systemic_therapy", "responder",
              "os_months", "os_event", "mut_STK11", "drug_class"]
    df = df.dropna(subset=needed)  # sequenced, with ECOG (one centre never records it)
    truth = yaml.safe_load((out / "truth.yaml").read_text())
    return df, _design(df), truth


def test_enough_observed_patients(observed) -> None:
    df, _, _ = observed
    assert len(df) > 2000
    assert df["centre"].nunique() >= 5  # the cohort really spans the centres' formats


def test_cox_recovers_true_os_log_hazard_ratios(observed) -> None:
    df, x, truth = observed
    true = truth["os_model"]["log_hr"]
    y = Surv.from_arrays(df["os_event"].astype(bool), df["os_months"].astype(float))
    model = CoxPHSurvival(penalizer=1e-6).fit(x, y)
    coef = model.summary_["coef"]
    problems = []
    for term, beta in true.items():
        est = float(coef[term])
        if np.sign(est) != np.sign(beta) or abs(est - beta) > COX_TOL:
            problems.append(f"{term}: estimated {est:+.3f}, true {beta:+.3f}")
    assert not problems, "; ".join(problems)
    # a cancer type with a true log-HR is recovered too (melanoma: protective vs NSCLC)
    mel = truth["os_model"]["cancer_type_log_hr"]["MEL"]
    assert abs(float(coef["ct_MEL"]) - mel) < 2 * COX_TOL


def test_null_covariate_has_no_os_effect(observed) -> None:
    """A covariate outside the generator's OS model (BMI) gets a log-HR near 0."""
    df, x, truth = observed
    assert "bmi" in truth["response_model"]["null_covariates"]
    y = Surv.from_arrays(df["os_event"].astype(bool), df["os_months"].astype(float))
    xb = x.assign(bmi10=(df["bmi"].astype(float) - 26.0) / 10.0).dropna()
    coef = CoxPHSurvival(penalizer=1e-6).fit(xb, y[x.index.isin(xb.index)]).summary_["coef"]
    assert abs(float(coef["bmi10"])) < COX_TOL


def test_logistic_recovers_true_response_log_odds(observed) -> None:
    df, x, truth = observed
    true = truth["response_model"]["coefficients"]
    cols = [*RESPONSE_TERMS, *[c for c in x.columns if c.startswith("ct_")]]
    fit = LogisticRegression(C=1e8, max_iter=10_000).fit(x[cols], df["responder"].astype(int))
    est = dict(zip(cols, fit.coef_[0], strict=True))
    problems = [f"{t}: estimated {est[t]:+.3f}, true {true[t]:+.3f}" for t in RESPONSE_TERMS
                if np.sign(est[t]) != np.sign(true[t]) or abs(est[t] - true[t]) > LOGIT_TOL]
    assert not problems, "; ".join(problems)
