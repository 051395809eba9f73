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
# # 03 — Score patients for the tumour board
#
# The demo pipeline (`icipredict demo`) leaves a champion in the local MLflow registry. Here we
# load `models:/icipredict-demo@champion` the way the board service does, score a patient
# record, read the answer (probability with CI, survival, reasons, warnings) and show the
# one-page report. Re-running reuses the trained run (idempotent).
#
# Environment: `ICIPREDICT_NB_PATIENTS` (default 600), `ICIPREDICT_NB_WORKDIR` (default a
# temporary folder; point it at an existing demo folder to reuse it).

# %%
import json
import os
import tempfile
from pathlib import Path

import mlflow
from IPython.display import HTML, display

from icipredict.demo import DemoContext, run_demo

N = int(os.environ.get("ICIPREDICT_NB_PATIENTS", "600"))
WORKDIR = Path(os.environ.get("ICIPREDICT_NB_WORKDIR") or tempfile.mkdtemp(prefix="icipredict-"))
ctx = run_demo(DemoContext(workdir=WORKDIR, n_patients=N, seed=7, n_weekly=8),
               lambda i, title, result: print(f"{i}. {title}: {result}"))

# %% [markdown]
# ## The champion in the registry

# %%
mlflow.set_tracking_uri(ctx.tracking_uri)
client = mlflow.MlflowClient()
mv = client.get_model_version_by_alias(ctx.model_name, "champion")
print(f"{ctx.model_name} version {mv.version} from run {mv.run_id}")
{k: v for k, v in mv.tags.items() if k.startswith("promotion.")}

# %% [markdown]
# ## A patient record, as the board sends it
# Numbers may carry units (`{"value": 38, "unit": "g/L"}`); they are harmonised on the way in.

# %%
record = json.loads((ctx.board_dir / "patients" / "no_imaging.json").read_text())
record["albumin"] = {"value": 10 * record["albumin"], "unit": "g/L"}  # sent in g/L
record.pop("mutations", None)  # keep the printout short: reported TMB only
{k: v for k, v in record.items()}

# %%
from icipredict.predict.scorer import score  # noqa: E402

s = score(record, ctx.model_uri)
print(f"response {s.response.probability:.0%} [{s.response.ci_low:.0%}, {s.response.ci_high:.0%}]"
      f" - {s.response.meaning}")
median_os = ("not reached" if s.os.median_months is None  # null: the curve stays above 50%
             else f"{s.os.median_months:.1f} months")
print(f"risk group {s.risk.group}; median OS {median_os}")
for r in s.reasons:
    print("reason:", r.text)
for w in s.warnings:
    print("warning:", w.message)

# %% [markdown]
# ## The one-page report

# %%
from icipredict.predict.report import render_report  # noqa: E402

display(HTML(render_report(s)))

# %% [markdown]
# ## The out-of-domain example: what the warnings say

# %%
ood = json.loads((ctx.board_dir / "out_of_domain.json").read_text())
assert ood["warnings"], "an out-of-domain patient must carry warnings"
[w["message"] for w in ood["warnings"]]

# %% [markdown]
# ## The weekly list (sorted by response probability)

# %%
import pandas as pd  # noqa: E402

pd.read_csv(ctx.weekly["csv"])[["rank", "patient_id", "cancer_type", "response_probability",
                                "risk_group", "n_warnings", "warning_codes"]]

# %% [markdown]
# Each warning's message is a row of `warnings.csv` (messages hold `;` and `,`).

# %%
pd.read_csv(ctx.weekly["warnings"])
