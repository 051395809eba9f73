"""The size rule of ``src/``: no file over 600 lines, no function or method over 80 lines.

The rule keeps modules to one job and functions readable; the scan names every offender so a
long function is split when it is written, not found later.
"""

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80


def size_offences(root: Path) -> list[str]:
    """``file: N lines`` and ``file:line name: N lines`` of every Python file/function over the
    limits under ``root`` (a function spans its ``def`` line to its last line)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(root)
        n_lines = len(text.splitlines())
        if n_lines > MAX_FILE_LINES:
            found.append(f"{name}: {n_lines} lines (max {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{name}:{node.lineno} {node.name}: {length} lines "
                        f"(max {MAX_FUNCTION_LINES})"
                    )
    return found


def test_src_files_and_functions_are_within_size_limits() -> None:
    assert SRC.is_dir()
    offences = size_offences(SRC)
    assert not offences, "split these into helpers with one job each:\n" + "\n".join(offences)


def test_scan_names_long_functions_methods_and_files(tmp_path: Path) -> None:
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))  # 81-line defs
    (tmp_path / "long.py").write_text(
        "def too_long():\n"
        + body.replace("        ", "    ")  # lines 1-81
        + "\n\ndef short():\n    return 1\n"  # lines 84-85
        + "\n\nclass C:\n    async def method(self):\n"
        + body
    )  # method at line 89
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "big.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    (tmp_path / "pkg" / "ok.py").write_text("def f():\n" + "    pass\n" * (MAX_FUNCTION_LINES - 1))
    offences = size_offences(tmp_path)
    assert offences == [
        f"long.py:1 too_long: {MAX_FUNCTION_LINES + 1} lines (max {MAX_FUNCTION_LINES})",
        f"long.py:{MAX_FUNCTION_LINES + 9} method: {MAX_FUNCTION_LINES + 1} lines "
        f"(max {MAX_FUNCTION_LINES})",
        f"pkg/big.py: {MAX_FILE_LINES + 1} lines (max {MAX_FILE_LINES})",
    ]
