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
# # 01 — Explore a cohort
#
# The synthetic six-centre network is loaded into the DuckDB cohort store (validated,
# harmonised, pseudonymised); then we query the store: per-centre summary, plain SQL, the
# BRCA1/2 registry view, and missingness per centre.
#
# Environment: `ICIPREDICT_NB_PATIENTS` (default 600) patients; `ICIPREDICT_NB_WORKDIR` (default
# a temporary folder) where the network and store are written.

# %%
# %matplotlib inline
import os
import tempfile
from pathlib import Path

import duckdb
import matplotlib.pyplot as plt
from IPython.display import display

from icipredict.demo import STEPS, DemoContext, harmonisation_table, run_demo

N = int(os.environ.get("ICIPREDICT_NB_PATIENTS", "600"))
WORKDIR = Path(os.environ.get("ICIPREDICT_NB_WORKDIR") or tempfile.mkdtemp(prefix="icipredict-"))
ctx = run_demo(DemoContext(workdir=WORKDIR, n_patients=N, seed=7), steps=STEPS[:2])
print(f"{N} patients; store {ctx.store_path}")

# %% [markdown]
# ## What each centre needed to reach the common contract

# %%
harmonisation_table(ctx.network_dir)[["centre", "format", "conversions"]]

# %% [markdown]
# ## Per-centre summary (a query of the store)

# %%
display(ctx.summary)

# %% [markdown]
# ## Plain SQL on the store (read-only)
# Response rate by cancer type across centres: the tables follow `cohort/schema.py`.

# %%
with duckdb.connect(str(ctx.store_path), read_only=True) as con:
    by_type = con.sql("""
        SELECT p.cancer_type, count(*) AS patients,
               avg(o.responder::DOUBLE) AS response_rate,
               median(l.albumin) AS median_albumin_g_dl
        FROM patients p
        JOIN outcomes o USING (centre, patient_id)
        LEFT JOIN labs l USING (centre, patient_id)
        GROUP BY p.cancer_type ORDER BY patients DESC
    """).df()
by_type.head(10)

# %% [markdown]
# Albumin is in g/dL at every centre after harmonisation (lindenhof reported g/L):

# %%
with duckdb.connect(str(ctx.store_path), read_only=True) as con:
    albumin = con.sql("SELECT centre, median(albumin) AS median_albumin_g_dl FROM labs "
                      "GROUP BY centre ORDER BY centre").df()
assert albumin["median_albumin_g_dl"].between(2.5, 5).all()
display(albumin)

# %% [markdown]
# ## The BRCA1/2 registry view

# %%
brca = ctx.brca  # classified (icipredict cohort brca): a benign K3326* is no carrier
pathogenic = brca["classification"].isin(["pathogenic", "likely_pathogenic"])
print(f"{len(brca)} variants in {brca['patient_id'].nunique()} patients, "
      f"{brca.loc[pathogenic, 'patient_id'].nunique()} pathogenic carriers")
brca[["centre", "patient_id", "gene", "hgvsp_short", "classification", "allelic_status",
      "cancer_type", "bor", "os_months"]].head()

# %% [markdown]
# ## Missingness per centre
# "Not profiled" stays missing (never zero): harbour has no imaging, IMPACT341 lacks four genes,
# meridian did not sequence 20% of its patients.

# %%
from icipredict.cohort.store import CohortStore  # noqa: E402
from icipredict.features.builder import missingness_summary, patient_frame  # noqa: E402

frame = patient_frame(CohortStore(ctx.store_path).cohort())
cols = ["age", "ecog", "nlr", "albumin", "ldh", "tmb", "msi_score", "mut_STK11", "mut_B2M",
        "mut_JAK1"]
miss = missingness_summary(frame[cols], frame["centre"])
fig, ax = plt.subplots(figsize=(7, 4))
im = ax.imshow(miss.drop(columns="all").to_numpy(), vmin=0, vmax=1, cmap="viridis")
ax.set_xticks(range(miss.shape[1] - 1), miss.columns[1:], rotation=45, ha="right")
ax.set_yticks(range(len(miss)), miss.index)
fig.colorbar(im, label="fraction missing")
ax.set_title("Missingness per centre")
fig.tight_layout()
display(fig)
plt.close(fig)
miss.round(2)
