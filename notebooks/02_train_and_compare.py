# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 — Train and compare: published baselines vs ours
#
# Baselines: **TMB ≥ 10** (FDA rule), **LLR6** (LORIS, Chang et al. 2024: L1 logistic regression
# on six capped, standardised inputs), **RF16** (Chowell et al. 2022: random forest with the
# published hyperparameters). Ours: regularised gradient boosting on every clinical and genomic
# feature with missing-value indicators. All fitted on the training patients only and scored
# once on the test patients.
#
# Data: the real Chowell 2022 cohort with the paper's random split when `../shared/data` exists
# (published test AUC: RF16 0.795, TMB 0.628); otherwise the synthetic network, testing on a
# held-out centre. Environment: `ICIPREDICT_NB_DATA` = `auto` (default) / `real` / `synthetic`;
# `ICIPREDICT_NB_PATIENTS` (synthetic size, default 600); `ICIPREDICT_NB_WORKDIR`.

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from icipredict.demo import PROJECT_ROOT, STEPS, DemoContext, run_demo
from icipredict.features.builder import FeatureBuilder, patient_frame
from icipredict.features.spec import read_spec

SHARED = Path(os.environ.get("ICIPREDICT_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")
MODE = os.environ.get("ICIPREDICT_NB_DATA", "auto")
REAL = MODE == "real" or (MODE == "auto" and (SHARED / "ici" / "chowell2022").is_dir())

if REAL:
    from icipredict.cohort.loaders import load_source

    cohorts = PROJECT_ROOT / "experiments" / "cohorts"
    train = patient_frame(load_source(cohorts / "chowell2022_train.yaml"), include_outcomes=True)
    test = patient_frame(load_source(cohorts / "chowell2022_test.yaml"), include_outcomes=True)
    data_name = "Chowell 2022, random split"
else:
    from icipredict.cohort.store import CohortStore

    N = int(os.environ.get("ICIPREDICT_NB_PATIENTS", "600"))
    workdir = Path(os.environ.get("ICIPREDICT_NB_WORKDIR") or tempfile.mkdtemp(prefix="icipredict-"))
    ctx = run_demo(DemoContext(workdir=workdir, n_patients=N, seed=7), steps=STEPS[:2])
    frame = patient_frame(CohortStore(ctx.store_path).cohort(), include_outcomes=True)
    held_out = frame["centre"] == "riverside"
    train, test = frame[~held_out], frame[held_out]
    data_name = f"synthetic network ({N} patients), test = held-out centre riverside"
train = train[train["responder"].notna()]
test = test[test["responder"].notna()]
y_train = train["responder"].astype(int).to_numpy()
y_test = test["responder"].astype(int).to_numpy()
print(f"{data_name}: {len(train)} train / {len(test)} test patients, "
      f"response rate {y_train.mean():.2f} / {y_test.mean():.2f}")

# %% [markdown]
# ## Fit the four models (feature specs from `models/features/`)

# %%
from icipredict.modeling.baselines import LorisLLR6, TMBThreshold  # noqa: E402
from icipredict.modeling.response import XGBResponse  # noqa: E402
from icipredict.modeling.spec import load_spec  # noqa: E402

specs = PROJECT_ROOT / "models" / "features"
recipes = {
    "TMB>=10": ("rf16.yaml", TMBThreshold(threshold=10.0)),
    "LLR6 (LORIS)": ("loris.yaml", LorisLLR6(C=0.1)),
    "RF16 (Chowell)": ("rf16.yaml", load_spec("rf16").build()),
    "ours (XGBoost)": ("full.yaml", XGBResponse(n_estimators=150, learning_rate=0.05,
                                                max_depth=2, reg_lambda=5.0, n_jobs=1)),
}
probs = {}
for name, (spec_file, model) in recipes.items():
    builder = FeatureBuilder(read_spec(specs / spec_file)).fit(train)
    model.fit(builder.transform(train), y_train)
    probs[name] = model.predict_proba(builder.transform(test))[:, 1]

# %% [markdown]
# ## Discrimination and calibration on the test patients (95% bootstrap CIs)

# %%
from icipredict.evaluation.compare import compare_auc  # noqa: E402
from icipredict.evaluation.metrics import response_metrics  # noqa: E402

rows = []
for name, p in probs.items():
    m = response_metrics(y_test, p, n_boot=200, seed=0).to_dict()
    rows.append({"model": name, "AUC": m["auc"], "AUC low": m.get("auc_ci_low"),
                 "AUC high": m.get("auc_ci_high"), "calibration slope": m.get("calibration_slope")})
table = pd.DataFrame(rows).set_index("model").round(3)
display(table)

# %% [markdown]
# Is ours different from RF16 beyond noise? (paired bootstrap on the same patients)

# %%
cmp = compare_auc(y_test, probs["ours (XGBoost)"], probs["RF16 (Chowell)"], n_boot=200)
print(f"AUC difference ours - RF16: {cmp.difference.value:+.3f} "
      f"[{cmp.difference.low:+.3f}, {cmp.difference.high:+.3f}]")

# %%
from icipredict.evaluation import plots  # noqa: E402

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
plots.plot_roc(y_test, probs, n_boot=0, ax=axes[0], title=f"ROC — {data_name}")
plots.plot_calibration(y_test, {k: v for k, v in probs.items() if k != "TMB>=10"}, ax=axes[1])
fig.tight_layout()

# %% [markdown]
# Each plot function also draws a figure of its own and returns it: as a cell's last value it
# shows inline (here precision against recall, with the response rate as the chance line).

# %%
plots.plot_pr(y_test, probs, n_boot=0, title=f"Precision–recall — {data_name}")

# %%
if REAL:
    print("Published test AUCs (Chowell 2022 random split): RF16 0.795, TMB 0.628")
assert np.isfinite(table["AUC"]).all()
