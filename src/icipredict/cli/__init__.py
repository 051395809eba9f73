"""The one command-line interface: ``icipredict --help``.

Commands are grouped by the stage of the data's way they drive, one module each: ``cohort``,
``features``, ``model`` (register, promote, model card, train), ``demo``, ``board`` (predict,
predict-list, serve), ``validate``, ``recalibrate`` and ``federated``; :mod:`.common` holds the
Typer apps, the console and the one error exit. Each command is a thin shell around library
functions; errors from bad input are printed as one clear message (file, row, column) and exit
with status 2. A new command goes into the module of its stage (or a new module imported here).
"""

from __future__ import annotations

from icipredict.cli import board, cohort, demo, features, model  # noqa: F401  (register commands)
from icipredict.cli.common import (
    StoreOption,
    _print_tracking,
    _rich_table,
    _set_tracking,
    app,
    cohort_app,
    console,
    fail,
    features_app,
)
from icipredict.cli.federated import federated_app
from icipredict.cli.recalibrate import recalibrate_cmd
from icipredict.cli.validate import register as _register_validate

app.add_typer(federated_app, name="federated")
_register_validate(app)
app.command("recalibrate")(recalibrate_cmd)

__all__ = ["app", "cohort_app", "features_app", "fail", "console", "StoreOption",
           "_print_tracking", "_rich_table", "_set_tracking"]
