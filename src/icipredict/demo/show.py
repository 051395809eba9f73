"""What the demo shows: tables after each step and where everything is at the end."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from icipredict.demo.board import step_board
from icipredict.demo.cohort import step_features, step_ingest
from icipredict.demo.context import DemoContext
from icipredict.demo.training import step_train


# ------------------------------------------------------------------------------ what to show
def harmonisation_lines(table: pd.DataFrame) -> list[str]:
    """:func:`harmonisation_table` as one line per centre (for a terminal)."""
    return [f"  {r.centre} ({r.format}, {r.assay}): {r.conversions}"
            for r in table.itertuples()]


def step_tables(ctx: DemoContext, step: Callable[[DemoContext], str]
                ) -> list[tuple[str, pd.DataFrame]]:
    """Tables worth showing after ``step`` (title, DataFrame), for the CLI to render."""
    if step is step_ingest and ctx.summary is not None:
        ingested = pd.DataFrame(ctx.ingests)[["centre", "version", "changed", "patients",
                                              "samples", "mutations", "imaging", "radiomics"]]
        summary = ctx.summary[["centre", "patients", "with_mutations", "with_imaging",
                               "responders", "evaluable", "os_events", "median_followup_months"]]
        return [("Ingested (rows per table)", ingested), ("Cohort summary", summary)]
    if step is step_features and ctx.missingness is not None:
        return [("Mean fraction missing before imputation, per modality and centre",
                 ctx.missingness.reset_index())]
    if step is step_train and ctx.folds is not None:
        return [("Leave-one-centre-out: each centre held out in turn", ctx.folds)]
    if step is step_board and ctx.scores:
        rows = [{"example": label, "patient_id": s.patient_id, "cancer_type": s.cancer_type,
                 "response": s.response.probability, "ci_low": s.response.ci_low,
                 "ci_high": s.response.ci_high, "risk_group": s.risk.group,
                 "median_os": s.os.median_months,
                 "warnings": "; ".join(w.code for w in s.warnings) or "-"}
                for label, s in ctx.scores.items()]
        return [("Example patients", pd.DataFrame(rows))]
    return []


def closing_lines(ctx: DemoContext) -> list[str]:
    """Where everything is and the commands to open it."""
    uri = ctx.tracking_uri
    lines = ["Where everything is:",
             f"  network (centres' own files)   {ctx.network_dir}",
             f"  cohort store (DuckDB)          {ctx.store_path}",
             f"  radiomics cache                {ctx.cache_dir}",
             f"  MLflow (runs, registry)        {uri}  run {ctx.run_id}",
             f"  champion                       {ctx.model_uri} (version {ctx.version}"
             f"{', FORCED with a recorded reason' if ctx.forced else ''})",
             f"  gate's held-out patients       {ctx.heldout_path}"]
    for label in ctx.scores:
        lines.append(f"  board report {label:<17} {ctx.board_dir / (label + '.html')} (+ .json)")
    if ctx.weekly:
        lines.append(f"  weekly list                    {ctx.weekly['html']} (+ {ctx.weekly['csv']})")
    lines += ["Open it with:",
              f"  mlflow ui --backend-store-uri {uri}",
              f"  icipredict model card {ctx.model_name}@champion --tracking-uri {uri}",
              f"  icipredict predict --patient {ctx.board_dir / 'patients' / 'complete.json'} "
              f"--model {ctx.model_uri} --tracking-uri {uri}",
              f"  ICIPREDICT_API_TOKEN=change-me icipredict serve --model {ctx.model_uri} "
              f"--tracking-uri {uri}",
              f"  icipredict promote {ctx.model_name} <VERSION> --eval-data {ctx.heldout_path} "
              f"--tracking-uri {uri}",
              f"  icipredict cohort summary --store {ctx.store_path}",
              f"  icipredict cohort brca --store {ctx.store_path}"]
    return lines
