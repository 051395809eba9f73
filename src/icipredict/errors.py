"""The package's errors: one class per kind of failure, each located as precisely as possible.

=================  ==========================================================================
Class              Raised when
=================  ==========================================================================
:class:`InputError`     a file, record, config or request is wrong (names file, row, column);
                        the cohort stage's :class:`~icipredict.cohort.schema.CohortError` is one
:class:`StoreError`     the cohort store cannot do what was asked (not a store yet, locked,
                        unknown version, migration impossible)
:class:`ModelError`     a model cannot be fitted or asked for something it does not do
:class:`RegistryError`  a model cannot be written to, read from or promoted in the registry
=================  ==========================================================================

Every class derives from :class:`IcipredictError`, which the command line and the REST service
turn into a one-line message (exit status 2) or a problem response; anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class IcipredictError(Exception):
    """A failure the user can act on, with where it happened when that is known.

    Parameters
    ----------
    message
        What is wrong and what was expected.
    file, row, column
        Where: source file, 1-based line in that file (header line = 1), column name in the file.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(IcipredictError, ValueError):
    """Wrong input: a file, record, experiment config or request (names file, row, column)."""


class StoreError(IcipredictError):
    """The cohort store cannot do what was asked (absent, locked, unknown version, migration)."""


class ModelError(IcipredictError, ValueError):
    """A model cannot be fitted on these data, or is asked for something it does not provide."""


class RegistryError(IcipredictError, ValueError):
    """A model cannot be written to, read from, registered in or promoted in the registry."""


__all__ = ["IcipredictError", "InputError", "StoreError", "ModelError", "RegistryError"]
