"""The external validation report as JSON (null, never NaN) and one HTML page (Jinja2, figures
embedded as PNG data URIs), plus a short text summary for the terminal."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from jinja2 import Environment, select_autoescape

from icipredict.evaluation.external import json_ready

_ENV = Environment(autoescape=select_autoescape(default=True), trim_blocks=True,
                   lstrip_blocks=True)
_ENV.filters["ci"] = lambda e: _fmt_ci(e)

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>External validation: {{ r.model.name }} v{{ r.model.version }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; font-size: 0.9rem; } .statement { font-weight: bold; }
figure { display: inline-block; margin: 0.5rem; } figure img { max-width: 30rem; }
</style></head><body>
<h1>External validation of {{ r.model.name }} version {{ r.model.version }}</h1>
<p class="note">Reported in the spirit of TRIPOD+AI. Every interval is a {{ r.settings.ci }}
 with {{ r.settings.n_boot }} resamples (time-dependent AUC: {{ r.settings.td_auc_boot }}).
 ECE binning: {{ r.settings.ece_binning }}. Counts under 5 are shown as "&lt;5".</p>
<p class="statement">{{ r.predictive.statement }}</p>

<h2>Cohort</h2>
<table><tr><th>source</th><td>{{ r.cohort.source }}</td></tr>
<tr><th>patients</th><td>{{ r.cohort.n }}</td></tr>
{% for k in ["responder_evaluable", "responder_positive", "os_event_evaluable", "os_event_positive",
             "pfs_event_evaluable", "pfs_event_positive", "median_follow_up_months_censored"] %}
{% if r.cohort[k] is not none %}<tr><th>{{ k }}</th><td>{{ r.cohort[k] }}</td></tr>{% endif %}
{% endfor %}
<tr><th>cancer types</th><td>{% for k, v in (r.cohort.cancer_types or {}).items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
</table>

<h2>Case mix against the training data</h2>
<table><tr><th>feature</th><th>training median [IQR]</th><th>cohort median [IQR]</th>
<th>missing</th><th>shift (training IQRs)</th><th>outside training range</th></tr>
{% for f in r.case_mix.numeric %}
<tr><td>{{ f.feature }}</td><td>{{ num(f.train_median) }} [{{ num(f.train_q25) }}, {{ num(f.train_q75) }}]</td>
<td>{{ num(f.median) }} [{{ num(f.q25) }}, {{ num(f.q75) }}]</td><td>{{ pct(f.missing_share) }}</td>
<td>{{ num(f.median_shift_iqr) }}</td><td>{{ pct(f.outside_share) }}</td></tr>
{% endfor %}</table>
{% for c in r.case_mix.categorical %}
<p>{{ c.column }}: {{ pct(c.unseen_share) }} of patients in levels never seen in training.</p>
{% endfor %}

<h2>Response</h2>
<table><tr><th>score</th><th>n</th><th>AUC</th><th>AUPRC</th><th>Brier</th><th>calibration intercept</th>
<th>calibration slope</th><th>ECE</th></tr>
{% for name, s in r.scores.items() if s.response %}
<tr><td>{{ name }}</td><td>{{ s.response.n }}</td>
{% for m in ["auc", "auprc", "brier", "calibration_intercept", "calibration_slope", "ece"] %}
<td>{{ s.response[m] | ci }}</td>{% endfor %}</tr>
{% endfor %}</table>

<h2>Survival</h2>
<p class="note">Uno's C and the time-dependent AUC weight pairs by this cohort's own censoring
 distribution (Kaplan-Meier of its censoring times): the censoring that matters here is the
 validation cohort's, not the training cohort's.</p>
<table><tr><th>score</th><th>end point</th><th>n / events</th><th>Harrell C</th><th>Uno C</th>
{% for h in r.settings.horizons %}<th>AUC({{ h }} mo)</th>{% endfor %}</tr>
{% for name, s in r.scores.items() %}{% for end in ["os", "pfs"] if s[end] %}
<tr><td>{{ name }}</td><td>{{ end | upper }}</td><td>{{ s[end].n }} / {{ s[end].n_events }}</td>
<td>{{ s[end].harrell_c | ci }}</td><td>{{ s[end].uno_c | ci }}</td>
{% for h in r.settings.horizons %}<td>{{ (s[end].td_auc or {}).get(hk(h)) | ci }}</td>{% endfor %}</tr>
{% endfor %}{% endfor %}</table>

<h2>Model minus reference (paired bootstrap)</h2>
<table><tr><th>reference</th><th>AUC difference</th><th>OS C difference</th><th>PFS C difference</th></tr>
{% for name, d in r.differences.items() %}
<tr><td>{{ name }}</td><td>{{ d.auc | ci }}</td><td>{{ d.os_harrell_c | ci }}</td><td>{{ d.pfs_harrell_c | ci }}</td></tr>
{% endfor %}</table>

<h2>Per cancer type (model)</h2>
<table><tr><th>cancer type</th><th>n</th><th>AUC</th><th>calibration intercept</th><th>OS Harrell C</th></tr>
{% for g in r.cancer_types %}
<tr><td>{{ g.group }}</td><td>{{ g.n }}</td><td>{{ g.auc | ci }}</td><td>{{ g.calibration_intercept | ci }}</td>
<td>{{ g.harrell_c | ci }}</td></tr>
{% endfor %}</table>
<p class="note">Metrics only where a group has at least 20 patients and 5 of each class.</p>

<h2>Predictive or prognostic</h2>
{% if r.predictive.untreated %}
<table><tr><th>score</th><th>end point</th><th>C treated</th><th>C untreated</th>
<th>HR/SD treated</th><th>HR/SD untreated</th><th>interaction (HR ratio)</th></tr>
{% for name, b in r.predictive.items() if name not in ["statement", "untreated"] %}
{% for end, x in b.items() if x.interaction_hr_ratio %}
<tr><td>{{ name }}</td><td>{{ end | upper }}</td><td>{{ x.c_treated | ci }}</td><td>{{ x.c_untreated | ci }}</td>
<td>{{ x.hr_per_sd_treated | ci }}</td><td>{{ x.hr_per_sd_untreated | ci }}</td><td>{{ x.interaction_hr_ratio | ci }}</td></tr>
{% endfor %}{% endfor %}</table>
<p class="note">Cox PH: risk score per SD + treated + score x treated (lifelines); Wald 95% CIs.</p>
{% else %}<p>No untreated cohort was given.</p>{% endif %}

{% for label, src in images %}<figure><img src="{{ src }}" alt="{{ label }}">
<figcaption>{{ label }}</figcaption></figure>{% endfor %}
</body></html>
"""


def _num(x: Any, digits: int = 3) -> str:
    if not isinstance(x, int | float):  # None, or a key the report does not have
        return "–"
    return f"{x:.{digits}g}" if abs(x) >= 1000 else f"{x:.{digits}f}"


def _pct(x: Any) -> str:
    return f"{100 * x:.0f}%" if isinstance(x, int | float) else "–"


def _fmt_ci(e: Any) -> str:
    if not isinstance(e, dict) or e.get("value") is None:
        return "–"
    if e.get("ci_low") is None:
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def figure_png(fig: Any) -> bytes:
    """PNG bytes of a matplotlib figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON text (no NaN/Infinity: ``allow_nan=False`` proves it)."""
    return json.dumps(json_ready(report), indent=2, allow_nan=False)


def to_html(report: dict[str, Any], images: dict[str, bytes] | None = None) -> str:
    """One HTML page with the report's tables and its figures embedded."""
    embedded = [(k, "data:image/png;base64," + base64.b64encode(v).decode("ascii"))
                for k, v in (images or {}).items()]
    return _ENV.from_string(TEMPLATE).render(
        r=json_ready(report), images=embedded, num=_num, pct=_pct,
        hk=lambda h: f"{float(h):g}")


def summary_table(report: dict[str, Any]) -> list[dict[str, str]]:
    """One row per score: response AUC, calibration slope, OS and PFS Harrell C (with CIs)."""
    rows = []
    for name, s in report.get("scores", {}).items():
        resp = s.get("response") or {}
        rows.append({"score": name, "n": str(resp.get("n", "")),
                     "auc": _fmt_ci(resp.get("auc")),
                     "cal_slope": _fmt_ci(resp.get("calibration_slope")),
                     "os_c": _fmt_ci((s.get("os") or {}).get("harrell_c")),
                     "pfs_c": _fmt_ci((s.get("pfs") or {}).get("harrell_c"))})
    return rows


__all__ = ["figure_png", "summary_table", "to_html", "to_json"]
