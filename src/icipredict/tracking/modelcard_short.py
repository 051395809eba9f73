"""The short model card: what the model uses, headline metrics with CIs, intended use, warnings.

The default of ``icipredict model card`` (under 80 lines). The bookkeeping the full card lists
(every run metric: bootstrap counts, alpha, tau, fold sizes; value ranges; per-cancer-type rows;
dataset digests; licences; serialisation) is left to ``--full``
(:data:`icipredict.tracking.modelcard.TEMPLATE`).

Headline metrics are the held-out ones: a run's cross-validated metric (``cv_<outcome>_<metric>``,
patients scored by a model that did not see them) when logged, else the plain name a simpler run
logs (``auc``, ``calibration_slope``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

#: Folder of the Jinja files the card templates import: ``modelcard_sections.md.j2`` holds the
#: sections both cards show (intended use, must not be used for, the domain's categories).
TEMPLATES = Path(__file__).with_name("templates")

#: (outcome, label, metric names in order of preference) of the short card's metrics table.
HEADLINE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Response", "AUC", ("cv_response_auc", "response_auc", "auc")),
    ("Response", "Calibration slope (ideal 1)",
     ("cv_response_calibration_slope", "calibration_slope")),
    ("Response", "Calibration intercept (ideal 0)",
     ("cv_response_calibration_intercept", "calibration_intercept")),
    ("Response", "Expected calibration error", ("cv_response_ece", "ece")),
    ("Response", "Brier score", ("cv_response_brier", "brier")),
    ("OS", "Harrell's C", ("cv_os_harrell_c", "os_harrell_c", "harrell_c")),
    ("OS", "Uno's C", ("cv_os_uno_c", "os_uno_c")),
    ("OS", "Time-dependent AUC at 12 months", ("cv_os_td_auc_12", "os_td_auc_12")),
    ("PFS", "Harrell's C", ("cv_pfs_harrell_c", "pfs_harrell_c")),
    ("PFS", "Uno's C", ("cv_pfs_uno_c", "pfs_uno_c")),
)
#: Per-centre columns of the short card: (label, metric).
CENTRE_METRICS = (("Response AUC", "auc"), ("OS C", "harrell_c"))

SHORT_TEMPLATE = """\
{% import "modelcard_sections.md.j2" as sections -%}
# Model card: {{ c.name }} version {{ c.version }}{% if c.aliases %} ({{ c.aliases | join(", ") }}){% endif %}

{{ c.description or "No description recorded." }}

Run `{{ c.run_id or "unknown" }}`, registered {{ (c.created or "unknown")[:10] }}. Every metric, \
value range, licence and file: `icipredict model card {{ c.name }}/{{ c.version }} --full`.

## What the model uses
{% if uses %}
{%- for group, cols in uses.items() %}
- {{ group }} ({{ cols | length }}): {{ cols | join(", ") }}
{%- endfor %}
{% else %}
The input columns were not recorded with the model.
{% endif %}
{%- if c.centres %}
Trained on {{ c.centres.values() | sum }} patients from {{ c.centres | length }} centre(s): \
{% for k, n in c.centres.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}.
{% endif %}
## Headline metrics (held-out patients, 95% bootstrap CI)
{% if headline %}
| Outcome | Metric | Value | 95% CI |
|---|---|---|---|
{%- for h in headline %}
| {{ h.outcome }} | {{ h.label }} | {{ fmt(h.value) }} | {% if h.ci_low is not none %}{{ fmt(h.ci_low) }} to {{ fmt(h.ci_high) }}{% endif %} |
{%- endfor %}
{% if counts %}
{{ counts }}
{% endif %}
{%- else %}
No held-out metrics recorded.
{% endif %}
{%- if centres %}
| Centre | n | {% for label, _ in centre_metrics %}{{ label }} | {% endfor %}
|---|---|{% for _ in centre_metrics %}---|{% endfor %}
{%- for row in centres %}
| {{ row.centre }} | {{ row.n }} | {% for v in row["values"] %}{{ fmt(v) }} | {% endfor %}
{%- endfor %}
{% endif %}
{{ sections.intended_use(c) }}

{{ sections.not_for(c) }}

## Validity domain
{% if c.validity_domain %}
{{- sections.category_lines(c.validity_domain.categories or {}, skip="centre") }}
- Values outside the training ranges ({{ n_ranges }} variables, see `--full`) are flagged on \
the board.
{% else %}
Not recorded: check every patient against the training cohorts by hand.
{% endif %}
## Warnings
{% for line in c.limitations %}
- {{ line }}
{%- endfor %}
{%- if c.pickled %}
- Pickled files in the saved model (loading runs code): {{ c.pickled | join(", ") }}.
{%- endif %}
{%- if promotion %}
- Promotion: {{ promotion }}
{%- endif %}
{% if c.plots %}
Figures (artifacts of the run; embedded with `--format html`): \
{% for p in c.plots %}`{{ p }}`{% if not loop.last %}, {% endif %}{% endfor %}.
{% endif %}
"""


def _group(col: str) -> str:
    if col.startswith("radiomics_"):
        return "Imaging (radiomics)"
    if col.startswith("mut_") or col in ("tmb", "msi_status", "msi_score", "fcna", "hed",
                                          "hla_loh", "panel"):
        return "Genomic"
    return "Clinical and laboratory"


def _metric(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any] | None:
    """The first of ``names`` with a value, overall, from the card's metrics or calibration."""
    overall = {m["metric"]: m for m in data["metrics"] if m["subgroup"] == "overall"}
    for name in names:
        m = overall.get(name)
        if m is not None and m["value"] is not None:
            return m
        cal = (data.get("calibration") or {}).get(name)
        if isinstance(cal, dict) and cal.get("value") is not None:
            return cal
    return None


def short_context(data: dict[str, Any]) -> dict[str, Any]:
    """What the short template shows, from a card's JSON dict (``ModelCard.to_json``)."""
    uses: dict[str, list[str]] = {}
    for col in data.get("features_used") or []:
        uses.setdefault(_group(col), []).append(col)
    headline = []
    for outcome, label, names in HEADLINE:
        m = _metric(data, names)
        if m is not None:
            headline.append({"outcome": outcome, "label": label, "value": m["value"],
                             "ci_low": m.get("ci_low"), "ci_high": m.get("ci_high")})
    counts = []
    for outcome, n_name, ev_name, what in (("Response", "cv_response_n", "cv_response_n_events",
                                            "responders"),
                                           ("OS", "cv_os_n", "cv_os_n_events", "deaths"),
                                           ("PFS", "cv_pfs_n", "cv_pfs_n_events", "events")):
        n, ev = _metric(data, (n_name,)), _metric(data, (ev_name,))
        if n is not None and ev is not None:
            counts.append(f"{outcome}: {int(ev['value'])} {what} of {int(n['value'])}")
    by_centre: dict[str, dict[str, Any]] = {}
    for m in data["metrics"]:
        if m["subgroup"].startswith("centre="):
            row = by_centre.setdefault(m["subgroup"][7:], {"n": m.get("n")})
            row[m["metric"]] = m["value"]
    centres = [{"centre": k, "n": v["n"] if v["n"] is not None else "",
                "values": [v.get(metric) for _, metric in CENTRE_METRICS]}
               for k, v in sorted(by_centre.items())]
    promotion = ""
    if data.get("promotion"):
        p = data["promotion"]
        try:
            reasons = "; ".join(json.loads(p.get("promotion.reasons", "[]")))
        except ValueError:
            reasons = p.get("promotion.reasons", "")
        promotion = f"{p.get('promotion.decision', 'unknown')} ({reasons})" if reasons else \
            p.get("promotion.decision", "unknown")
    ranges = (data.get("validity_domain") or {}).get("ranges") or {}
    used = set(data.get("features_used") or ranges)
    return {"uses": uses, "headline": headline, "centres": centres,
            "n_ranges": sum(col in used for col in ranges),
            "centre_metrics": CENTRE_METRICS, "promotion": promotion,
            "counts": ("Patients: " + "; ".join(counts) + ".") if counts else ""}


def card_environment(fmt: Callable[[Any], str]) -> Environment:
    """The Jinja environment of the short and the full card: Markdown (no escaping), the
    shared sections (:data:`TEMPLATES` ``/modelcard_sections.md.j2``) importable, ``fmt`` the
    number format."""
    # Plain Undefined: a card built from partial inputs renders with blanks rather than failing.
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,
                      keep_trailing_newline=True)
    env.globals["fmt"] = fmt
    return env


def render_short(data: dict[str, Any], fmt: Callable[[Any], str]) -> str:
    """Render the short card's Markdown from a card's JSON dict (``fmt``: the number format)."""
    return card_environment(fmt).from_string(SHORT_TEMPLATE).render(c=data,
                                                                    **short_context(data))
