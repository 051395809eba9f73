"""A centre's own file read through its column map, keeping the centre's own patient IDs.

For scoring a list in the centre's format (``icipredict predict-list FILE --column-map MAP``):
the map describes one table (its ``files`` entry names the columns, units and codings); ``FILE``
replaces that entry's path, and the rows keep the file's own IDs (no ``id_prefix``, no
pseudonyms: the output stays at the centre and must join back to its records).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from icipredict._util import validation_problems
from icipredict.cohort.column_map import ColumnMap, read_column_map
from icipredict.cohort.schema import CohortError

#: Centre recorded for the rows when the map names none.
LOCAL_CENTRE = "local"


def _one_file_map(cmap: ColumnMap, file: Path, origin: Path | str) -> ColumnMap:
    if len(cmap.files) != 1:
        raise CohortError(f"the column map describes {len(cmap.files)} files; scoring a list "
                          "needs a map of one table (its files: entry)", file=origin)
    entry = cmap.files[0].model_copy(update={"path": str(file.resolve()), "id_prefix": None})
    return cmap.model_copy(update={"files": [entry], "centre": cmap.centre or LOCAL_CENTRE})


def load_mapped_file(file: str | Path, column_map: str | Path) -> Any:
    """Read ``file`` as the table ``column_map`` describes.

    Returns
    -------
    Cohort
        Validated, harmonised tables keyed by the file's own patient IDs.

    Raises
    ------
    CohortError
        A missing file or map, a map of several files, or any value problem (file, row,
        column).
    """
    from icipredict.cohort.loaders import load_column_map

    file, column_map = Path(file), Path(column_map)
    if not file.is_file():
        raise CohortError("list file not found", file=file)
    cmap = read_column_map(column_map)
    return load_column_map(_one_file_map(cmap, file, column_map))


def load_mapped_rows(rows: list[dict[str, Any]], column_map_yaml: str, folder: Path) -> Any:
    """Rows in a centre's own columns (e.g. a JSON body) read through a column map given as
    YAML text; ``folder`` holds the temporary CSV. The map may not point at other files."""
    import pandas as pd

    try:
        raw = yaml.safe_load(column_map_yaml)
        cmap = ColumnMap.model_validate(raw)
    except yaml.YAMLError as exc:
        raise CohortError(f"column_map is not valid YAML: {exc}", column="column_map") from exc
    except ValidationError as exc:
        raise CohortError(f"invalid column map: {validation_problems(exc)}",
                          column="column_map") from exc
    if cmap.mutations:
        raise CohortError("this endpoint reads no MAF files: leave 'mutations' out of the map "
                          "and send TMB as a column", column="column_map.mutations")
    if not rows:
        raise CohortError("no rows to score", column="rows")
    path = folder / "rows.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    cmap.base_dir = folder
    entry = cmap.files[0] if cmap.files else None
    if entry is not None and (entry.format or "csv") != "csv":
        entry.format = "csv"
    from icipredict.cohort.loaders import load_column_map

    return load_column_map(_one_file_map(cmap, path, "column_map"))


__all__ = ["LOCAL_CENTRE", "load_mapped_file", "load_mapped_rows"]
