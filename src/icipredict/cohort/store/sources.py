"""What a source consists of: its files, and one content hash over them (a version's identity)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from icipredict.cohort.schema import CohortError


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of one file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def source_files(path: str | Path) -> dict[str, Path]:
    """Every file a source consists of, by a stable label.

    A folder: all its files (recursively, hidden files skipped), labelled by relative path. A
    column map (``.yaml``/``.yml``): the map plus every data file and MAF it names, labelled as
    written in the map. Any other file: itself.

    Raises
    ------
    CohortError
        If the source does not exist (or a column map is invalid).
    """
    path = Path(path)
    if path.is_dir():
        return {
            f.relative_to(path).as_posix(): f
            for f in sorted(path.rglob("*"))
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        }
    if not path.is_file():
        raise CohortError("source not found (expected a folder, a column map or a data file)",
                          file=path)
    if path.suffix.lower() in (".yaml", ".yml"):
        from icipredict.cohort.column_map import read_column_map
        from icipredict.cohort.loaders import resolve_data_path  # paths as the loader sees them

        cmap = read_column_map(path)
        files = {"<column map>": path}
        for name in [fm.path for fm in cmap.files if fm.path] + [cmap.mutations or ""]:
            if name:
                files[name] = resolve_data_path(cmap, name)
        return files
    return {path.name: path}


def source_content_hash(path: str | Path) -> str:
    """SHA-256 over every file of a source (see :func:`source_files`): names and contents.

    Missing files named by a column map are hashed as missing (the loader reports them).
    """
    digest = hashlib.sha256()
    for label, file in sorted(source_files(path).items()):
        content = file_sha256(file) if file.is_file() else "<missing>"
        digest.update(f"{label}\0{content}\n".encode())
    return digest.hexdigest()
