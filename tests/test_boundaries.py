"""The house rules, checked by the tools that enforce them: import boundaries
(import-linter, contracts in pyproject.toml), lint (ruff check) and layout (ruff format --check).

The second test proves the first can fail: it plants a forbidden import (textual in the
engine) in a copy of the package and expects lint-imports to name the broken contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            print(f"SKIP: {name} is not installed (pip install -e '.[test]')", file=sys.stderr)
            pytest.skip(f"{name} is not installed")
        return found
    return str(path)


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # this root's tui, not the installed one
    return subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_import_contracts_are_kept():
    p = _lint_imports(REPO)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout


def test_a_ui_import_in_the_core_breaks_a_contract(tmp_path):
    shutil.copytree(REPO / "tui", tmp_path / "tui", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    engine = tmp_path / "tui" / "engine.py"
    engine.write_text(engine.read_text() + "\n\ndef _planted():\n    import textual.widgets  # noqa: F401\n")
    p = _lint_imports(tmp_path)
    assert p.returncode != 0, p.stdout[-3000:]
    assert "The core never imports the UI BROKEN" in p.stdout
    assert "tui.engine -> textual" in p.stdout


def test_ruff_check_is_clean():
    p = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-1000:]


def test_ruff_format_is_kept():
    p = subprocess.run(
        [_tool("ruff"), "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-1000:]
