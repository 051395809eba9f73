"""``icipredict demo``: the whole way of the data on the built-in synthetic network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from icipredict.cli.common import (
    _rich_table,
    app,
    console,
    fail,
)
from icipredict.errors import IcipredictError

# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------

@app.command("demo")
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo writes.")] = Path(
        "icipredict-demo"),
    patients: Annotated[int, typer.Option("--patients", "-n", min=60,
                                          help="Patients in the synthetic network.")] = 600,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    retrain: Annotated[bool, typer.Option(
        "--retrain", help="Train anew even when the data and config are unchanged.")] = False,
) -> None:
    """Run the whole way of the data on the built-in synthetic six-centre network."""
    import time

    from icipredict.demo import (
        STEPS,
        DemoContext,
        closing_lines,
        harmonisation_lines,
        run_demo,
        step_ingest,
        step_tables,
    )

    start = time.perf_counter()
    ctx = DemoContext(workdir=workdir, n_patients=patients, seed=seed, retrain=retrain)

    def show(i: int, title: str, result: str) -> None:
        seconds = ctx.timings[-1][1] if ctx.timings else 0.0
        console.print(f"[bold green]{i}/{len(STEPS)}[/] [bold]{title}[/] ({seconds:.1f} s): "
                      f"{result}")
        if STEPS[i - 1][1] is step_ingest:
            console.print("Harmonisation done per centre (from the column maps):")
            for line in harmonisation_lines(ctx.harmonisation):
                console.print(line, highlight=False, soft_wrap=True)
        for caption, table in step_tables(ctx, STEPS[i - 1][1]):
            console.print(_rich_table(table, caption, transpose_if_narrow=True))

    try:
        run_demo(ctx, show)
    except IcipredictError as exc:
        fail(exc)
    steps = ", ".join(f"{i} {s:.0f} s" for i, (_, s) in enumerate(ctx.timings, start=1))
    console.print(f"Done in {time.perf_counter() - start:.0f} s (steps: {steps}).")
    for line in closing_lines(ctx):
        console.print(line, highlight=False, soft_wrap=True)
