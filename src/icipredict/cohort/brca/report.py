"""The BRCA1/2 registry report: HTML (Jinja2, KM plots embedded as PNG data) and JSON.

No patient-level row leaves through the aggregate sections: the outcome, co-alteration and
TMB/MSI tables hold counts and estimates only, with cells under five patients suppressed. The
registry table itself lists pseudonymous IDs (the store's), as ``cohort brca`` does.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import pandas as pd
from jinja2 import Environment, select_autoescape

from icipredict.cohort.brca.origin import ESMO_RULE
from icipredict.cohort.brca.outcomes import MIN_CELL, km_curves
from icipredict.cohort.brca.registry import Analysis

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>BRCA1/2 registry</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; }
th { background: #f0f0f0; } .note { color: #666; font-size: 0.85em; }
img { max-width: 640px; border: 1px solid #ddd; }
</style></head><body>
<h1>BRCA1/2 registry</h1>
<p id="summary">{{ n_variants }} somatic variant(s) in {{ n_patients }} patient(s) across
{{ n_centres }} centre(s); {{ n_carriers }} pathogenic carrier(s); {{ n_germline }} germline
variant(s) listed apart. Knowledge base {{ kb_version }}.</p>
<p class="note">{{ esmo }}. Cells with fewer than {{ min_cell }} patients are suppressed.</p>

<h2>Outcomes per class</h2>
<table id="outcomes"><tr>{% for c in outcomes.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in outcomes.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>

<h2>Survival (pooled)</h2>
{% for end, img in plots.items() %}<figure><img class="km" alt="{{ end }} Kaplan-Meier"
 src="data:image/png;base64,{{ img }}"><figcaption>{{ end }}: Kaplan-Meier by class
 (classes with at least {{ min_cell }} patients)</figcaption></figure>{% else %}
<p>No class has {{ min_cell }} patients with follow-up.</p>{% endfor %}

<h2>Homologous-recombination co-alterations (patients)</h2>
<table id="coalterations"><tr>{% for c in co.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in co.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>

<h2>TMB and MSI</h2>
<table id="tmb"><tr>{% for c in tmb.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in tmb.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>

<h2>Registry (somatic)</h2>
<table id="registry"><tr>{% for c in registry.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in registry.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>

<h2>Germline variants (not somatic carriers)</h2>
<table id="germline"><tr>{% for c in germline.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in germline.itertuples(index=False) %}<tr>{% for v in row %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>
</body></html>
"""

#: Registry columns shown in the report.
SHOWN = ["centre", "patient_id", "gene", "hgvsp_short", "variant_classification",
         "classification", "rule", "origin", "germline_follow_up", "second_hit",
         "allelic_status", "cancer_type", "drug_class", "bor", "os_months", "os_event"]


def _fmt(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}"
    return str(v)


def km_png(frame: pd.DataFrame, end: str) -> str | None:
    """Base64 PNG of the pooled KM curves of ``end`` (``os``/``pfs``), None when none shown."""
    curves = km_curves(frame, end)
    if not curves:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for cls, c in curves.items():
        n = int(((frame["brca_class"] == cls) & frame[f"{end}_months"].notna()).sum())
        ax.step(c["timeline"], c["survival"], where="post", label=f"{cls} (n={n})")
    ax.set_xlabel("months since ICI start")
    ax.set_ylabel(f"{end.upper()} probability")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def render_html(analysis: Analysis) -> str:
    """The report as one self-contained HTML page."""
    reg = analysis.registry
    som = reg.somatic
    carriers = som[som["classification"].isin(["pathogenic", "likely_pathogenic"])]
    plots = {end.upper(): img for end in ("os", "pfs")
             if (img := km_png(analysis.patients, end)) is not None}
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(
        n_variants=len(som), n_patients=som["patient_id"].nunique(),
        n_centres=som["centre"].nunique(), n_carriers=carriers["patient_id"].nunique(),
        n_germline=len(reg.germline), kb_version=reg.kb_version, esmo=ESMO_RULE,
        min_cell=MIN_CELL, outcomes=analysis.outcomes, plots=plots,
        co=analysis.co_alterations, tmb=analysis.tmb_msi,
        registry=som.reindex(columns=SHOWN),
        germline=reg.germline.reindex(columns=["centre", "patient_id", "gene", "hgvsp_short",
                                               "classification", "rule", "second_hit"]),
        fmt=_fmt)


def write_html(analysis: Analysis, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path``."""
    path = Path(path)
    path.write_text(render_html(analysis), encoding="utf-8")
    return path


def _records(df: pd.DataFrame) -> list[dict]:
    """JSON-safe records (NaN/NA -> None)."""
    clean = df.astype(object).where(df.notna(), None)
    return clean.to_dict(orient="records")


def to_json(analysis: Analysis) -> dict:
    """The registry and its aggregate tables as JSON-safe dicts (for ``GET /brca``)."""
    reg = analysis.registry
    return {"kb_version": reg.kb_version, "germline_rule": ESMO_RULE, "min_cell": MIN_CELL,
            "registry": _records(reg.somatic), "germline": _records(reg.germline),
            "outcomes": _records(analysis.outcomes),
            "co_alterations": _records(analysis.co_alterations),
            "tmb_msi": _records(analysis.tmb_msi)}
