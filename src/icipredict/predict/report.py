"""One-page HTML reports for the board (Jinja2, inline SVG, prints to A4) and the weekly list."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from icipredict.predict.scorer import BoardScore, SurvivalEstimate, scores_table

_ENV = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                   autoescape=True, trim_blocks=True, lstrip_blocks=True)


def survival_svg(os: SurvivalEstimate, pfs: SurvivalEstimate, *, width: int = 340,
                 height: int = 190) -> Markup:
    """OS and PFS curves (step functions, CI bands when given) as a small inline SVG."""
    left, right, top, bottom = 38, 10, 10, 28
    pw, ph = width - left - right, height - top - bottom
    tmax = max([p.month for c in (os, pfs) for p in c.curve] or [36.0])

    def xy(t: float, s: float) -> tuple[float, float]:
        return left + pw * t / tmax, top + ph * (1 - s)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="Predicted survival">']
    for s in (0, 0.25, 0.5, 0.75, 1.0):
        _, y = xy(0, s)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                     'stroke="#ddd" stroke-width="0.6"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="9" '
                     f'text-anchor="end">{int(s * 100)}%</text>')
    for t in range(0, int(tmax) + 1, 6):
        x, _ = xy(t, 0)
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 12}" font-size="9" '
                     f'text-anchor="middle">{t}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 3}" font-size="9" '
                 'text-anchor="middle">months from ICI start</text>')
    for curve, colour, name in ((os, "#1f5fa8", "OS"), (pfs, "#c0392b", "PFS")):
        pts = [(p.month, p.survival) for p in curve.curve if p.survival is not None]
        if not pts:
            continue
        band = [(p.month, p.ci_low, p.ci_high) for p in curve.curve
                if p.survival is not None and p.ci_low is not None and p.ci_high is not None]
        if len(band) > 1:
            upper = " ".join("{:.1f},{:.1f}".format(*xy(m, hi)) for m, _, hi in band)
            lower = " ".join("{:.1f},{:.1f}".format(*xy(m, lo)) for m, lo, _ in reversed(band))
            parts.append(f'<polygon points="{upper} {lower}" fill="{colour}" '
                         'fill-opacity="0.12" stroke="none"/>')
        path = []
        for i, (month, surv) in enumerate(pts):
            x, y = xy(month, surv)
            if i == 0:
                path.append(f"M{x:.1f},{y:.1f}")
            else:
                path.append(f"H{x:.1f} V{y:.1f}")
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" '
                     f'stroke-width="1.8"><title>{name}</title></path>')
        if curve.median_months is not None and curve.median_months <= tmax:
            x, y = xy(curve.median_months, 0.5)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    parts.append(f'<rect x="{left + pw - 70}" y="{top + 4}" width="66" height="30" fill="white" '
                 'stroke="#ccc"/>')
    parts.append(f'<line x1="{left + pw - 64}" y1="{top + 14}" x2="{left + pw - 50}" '
                 f'y2="{top + 14}" stroke="#1f5fa8" stroke-width="2"/><text x="{left + pw - 46}" '
                 f'y="{top + 17}" font-size="9">OS</text>')
    parts.append(f'<line x1="{left + pw - 64}" y1="{top + 27}" x2="{left + pw - 50}" '
                 f'y2="{top + 27}" stroke="#c0392b" stroke-width="2"/><text x="{left + pw - 46}" '
                 f'y="{top + 30}" font-size="9">PFS</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def probability_svg(p: float | None, low: float | None, high: float | None, *,
                    width: int = 300) -> Markup:
    """A 0-100% bar with the estimate and its 95% CI."""
    if p is None:
        return Markup("")
    left, w = 8, width - 16

    def x(v: float) -> float:
        return left + w * v

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="34" '
             f'viewBox="0 0 {width} 34" role="img" aria-label="Response probability">',
             f'<rect x="{left}" y="8" width="{w}" height="10" fill="#eee" stroke="#bbb"/>']
    if low is not None and high is not None:
        parts.append(f'<rect x="{x(low):.1f}" y="8" width="{x(high) - x(low):.1f}" height="10" '
                     'fill="#9cc3e6"/>')
    parts.append(f'<rect x="{x(p) - 1.5:.1f}" y="4" width="3" height="18" fill="#1f5fa8"/>')
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{x(v):.1f}" y="31" font-size="8" '
                     f'text-anchor="middle">{int(v * 100)}%</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _months(v: float | None) -> str:
    return "not reached" if v is None else f"{v:.1f} months"


_ENV.filters["pct"] = _pct
_ENV.filters["months"] = _months


def render_report(score: BoardScore) -> str:
    """The one-page HTML report of one patient's :class:`BoardScore`."""
    return _ENV.get_template("report.html.j2").render(
        s=score, survival_svg=survival_svg(score.os, score.pfs),
        probability_svg=probability_svg(score.response.probability, score.response.ci_low,
                                        score.response.ci_high))


def write_report(score: BoardScore, path: str | Path) -> Path:
    """Write :func:`render_report` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(score), encoding="utf-8")
    return path


def render_list(scores: list[BoardScore], *, title: str = "Weekly tumour board list") -> str:
    """The weekly list (already sorted) as an HTML table linking each patient's report."""
    return _ENV.get_template("list.html.j2").render(scores=scores, title=title)


def warnings_table(scores: list[BoardScore]) -> pd.DataFrame:
    """The list's warnings in long format: one row per warning (``rank, patient_id, code,
    message``), in list order; a message keeps its own ``;`` and ``,`` (CSV quotes them)."""
    rows = [{"rank": rank, "patient_id": s.patient_id, "code": w.code, "message": w.message}
            for rank, s in enumerate(scores, start=1) for w in s.warnings]
    return pd.DataFrame(rows, columns=["rank", "patient_id", "code", "message"])


def write_list(scores: list[BoardScore], out_dir: str | Path) -> dict[str, Path]:
    """Write the weekly list and one ``<patient>.html`` report per patient.

    ``list.html`` shows each patient's warnings; ``list.csv`` has one row per patient (with
    ``n_warnings`` and ``warning_codes``); ``warnings.csv`` one row per warning with its message
    (join the two on ``rank`` or ``patient_id``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"html": out / "list.html", "csv": out / "list.csv",
             "warnings": out / "warnings.csv"}
    paths["html"].write_text(render_list(scores), encoding="utf-8")
    scores_table(scores).to_csv(paths["csv"], index=False)
    warnings_table(scores).to_csv(paths["warnings"], index=False)
    for s in scores:
        write_report(s, out / f"{report_name(s)}.html")
    return paths


def report_name(score: BoardScore) -> str:
    """A file-safe name for a patient's report."""
    pid = score.patient_id or "patient"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in escape(pid))
