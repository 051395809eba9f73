"""External validation rows of ``benchmarks/quality.md``, produced by ``icipredict validate``.

Two set-ups, each trained, registered and validated with the package's own CLI (subprocesses,
as a user would run them), in a work folder (default: a temporary one):

1. **LORIS year split** (real data, ``../shared/data``): ``experiments/loris_reproduction.yaml``
   (refit on the 964 training patients of 2015-2017), validated on the 515 test patients of
   2018 through their column map.
2. **Synthetic network** (``cohort synth --patients 1200 --seed 7 --untreated 600``): the demo's
   small XGBoost + fixed-penalty Cox on clinical + genomic features, trained on four centres
   (lindenhof, alpenrose, coastline, meridian), validated on each held-out centre (harbour,
   riverside) with the untreated arm (lakeside) for the score x treatment interaction.

The rows are written into ``benchmarks/quality.md`` between the markers below (inside the part
that ``quality.py`` keeps); everything else in the file is left as it is.

Usage::

    .venv/bin/python benchmarks/external_validation.py [--workdir DIR] [--n-boot 1000]
    # re-validate already registered models (same work folder):
    .venv/bin/python benchmarks/external_validation.py --workdir DIR \
        --loris-model models:/external-loris/1 --synthetic-model models:/external-synthetic/1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEGIN = "<!-- external-validation:begin (benchmarks/external_validation.py) -->"
END = "<!-- external-validation:end -->"
TRAIN = ("lindenhof", "alpenrose", "coastline", "meridian")
HELD_OUT = ("harbour", "riverside")
CLI = [sys.executable, "-c", "from icipredict.cli import app; app()"]


def run(args: list[str], env: dict[str, str]) -> str:
    """Run the CLI; return stdout (raise with its output on failure)."""
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"icipredict {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def train_register(experiment: Path, name: str, env: dict[str, str]) -> str:
    """``icipredict train`` + ``register``; returns ``models:/NAME/VERSION``."""
    out = run(["train", str(experiment)], env)
    run_id = re.search(r"run id ([0-9a-f]{32})", out).group(1)
    reg = run(["register", run_id, "--name", name], env)
    version = re.search(r"version (\d+)", reg).group(1)
    return f"models:/{name}/{version}"


def validate(model: str, cohort: Path, out: Path, env: dict[str, str], n_boot: int,
             untreated: Path | None = None) -> dict:
    """``icipredict validate``; returns the report JSON."""
    args = ["validate", model, "--cohort", str(cohort), "--out", str(out), "--n-boot", str(n_boot)]
    if untreated is not None:
        args += ["--untreated", str(untreated)]
    run(args, env)
    return json.loads((out / "report.json").read_text())


def synthetic_experiment(work: Path, net: Path) -> Path:
    """The demo's small models on clinical + genomic features, trained on four centres."""
    exp = work / "synthetic_exp"
    exp.mkdir(exist_ok=True)
    demo = ROOT / "experiments" / "demo"
    (exp / "features.yaml").write_text(
        "name: demo_no_imaging\nmodalities: [clinical, genomic]\n"
        "clinical: [age, sex, bmi, ecog, stage_iv, prior_systemic_therapy, nlr, albumin, "
        "platelets, haemoglobin, ldh, drug_combination, drug_class]\n"
        "genomic: [tmb, msi_high, msi_score, fcna, hed, hla_loh]\ngenes: default\n"
        "cancer_type: onehot\nrare_type_min_count: 10\ncaps: {tmb: 100, nlr: 30}\n"
        "imputation: median\nscaling: none\nmissing_indicators: true\n")
    files = "".join(f"    - {{column_map: {net / c / 'column_map.yaml'}}}\n" for c in TRAIN)
    (exp / "exp.yaml").write_text(
        f"name: external_synthetic\ncohort:\n  files:\n{files}features: features.yaml\n"
        f"models: [{demo / 'response_xgb_small.yaml'}, {demo / 'coxph_fixed.yaml'}]\n"
        "targets: [response, os, pfs]\nvalidation: {scheme: kfold, n_splits: 5}\n"
        "n_bootstrap: 200\ntracking: {experiment: external-synthetic}\n")
    return exp / "exp.yaml"


def _ci(e: dict | None, digits: int = 3) -> str:
    if not e or e.get("value") is None:
        return "-"
    if e.get("ci_low") is None:
        return f"{e['value']:.{digits}f}"
    return f"{e['value']:.{digits}f} [{e['ci_low']:.{digits}f}, {e['ci_high']:.{digits}f}]"


def rows(label: str, report: dict) -> list[str]:
    """Markdown rows: one per score of the report."""
    out = []
    for name, s in report["scores"].items():
        r = s.get("response") or {}
        diff = (report["differences"].get("loris_llr6_published") or {}).get("auc") \
            if name == "model" else None
        inter = ((report.get("predictive") or {}).get(name) or {}).get("os") or {}
        out.append(
            f"| {label} | {name} | {r.get('n', '-')} | {_ci(r.get('auc'))} | "
            f"{_ci(r.get('calibration_slope'), 2)} | {_ci(r.get('calibration_intercept'), 2)} | "
            f"{_ci(r.get('ece'), 3)} | {_ci((s.get('os') or {}).get('harrell_c'))} | "
            f"{_ci((s.get('os') or {}).get('uno_c'))} | "
            f"{_ci((s.get('pfs') or {}).get('harrell_c'))} | {_ci(diff)} | "
            f"{_ci(inter.get('interaction_hr_ratio'), 2)} |")
    return out


def section(results: list[tuple[str, dict]], n_boot: int) -> str:
    """The generated markdown section (between the markers)."""
    head = [
        BEGIN, "", "## External validation (`icipredict validate`)", "",
        f"Generated by `benchmarks/external_validation.py` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC ({platform.platform()}, Python "
        f"{platform.python_version()}); {n_boot} bootstrap resamples, percentile 95% CIs. Each "
        "model was trained and registered with `icipredict train`/`register`, then scored once "
        "on patients it never saw. References in the same run: `tmb_ge_10` (a 0/1 rule: AUC "
        "only), `loris_llr6_published` (the published LORIS coefficients, no refit; balanced "
        "class weights, so not calibrated). ECE: 10 equal-width bins. \"AUC - LLR6\" is the "
        "model's paired-bootstrap AUC difference to the published LLR6; \"interaction\" the "
        "Cox score x treatment HR ratio (OS, per SD of the risk score) with the untreated arm; "
        "the claim \"interaction shown\" rests on OS only (its CI excluding 1).",
        "",
        "| cohort | score | n | AUC | cal. slope | cal. intercept | ECE | OS Harrell C | "
        "OS Uno C | PFS Harrell C | AUC - LLR6 | interaction |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    body = [row for label, rep in results for row in rows(label, rep)]
    notes = []
    for label, rep in results:
        stmt = (rep.get("predictive") or {}).get("statement")
        if stmt and "untreated" in (rep.get("predictive") or {}):
            notes.append(f"- {label}: {stmt}")
    return "\n".join([*head, *body, "", *notes, "", END])


def write_section(path: Path, text: str) -> None:
    """Replace the marked section of ``path`` (append it when absent)."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def main() -> None:
    """Train, register and validate both set-ups; write the rows into quality.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=HERE / "quality.md")
    parser.add_argument("--skip-loris", action="store_true")
    parser.add_argument("--loris-model", help="a registered model to reuse (skips training)")
    parser.add_argument("--synthetic-model", help="a registered model to reuse (needs the "
                        "work folder's network)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="icipredict-external-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "COLUMNS": "160"}
    results: list[tuple[str, dict]] = []
    shared = ROOT.parent / "shared" / "data" / "ici" / "chowell2022"
    if not args.skip_loris and shared.is_dir():
        model = args.loris_model or train_register(
            ROOT / "experiments" / "loris_reproduction.yaml", "external-loris", env)
        rep = validate(model, ROOT / "experiments" / "cohorts" / "loris_year_split_test.yaml",
                       work / "loris", env, args.n_boot)
        results.append(("LORIS year split test (2018), trained 2015-17", rep))
    net = work / "network"
    if not (net / "truth.yaml").exists():
        run(["cohort", "synth", "--patients", "1200", "--seed", "7", "--untreated", "600",
             "--out", str(net)], env)
    model = args.synthetic_model or train_register(synthetic_experiment(work, net),
                                                   "external-synthetic", env)
    for centre in HELD_OUT:
        source = net / centre if centre == "harbour" else net / centre / "column_map.yaml"
        rep = validate(model, source, work / centre, env, args.n_boot,
                       untreated=net / "lakeside" / "column_map.yaml")
        results.append((f"synthetic held-out centre {centre}", rep))
    text = section(results, args.n_boot)
    print(text)
    write_section(args.out, text)
    print(f"\nwrote {args.out} (work folder {work})")


if __name__ == "__main__":
    main()
