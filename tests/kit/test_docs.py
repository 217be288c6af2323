"""The docs point at tests that exist: every `path.py::test_name` a page names (and every `::test_name` that
continues the previous path) is a test function in that file, and every test path a page names is a file.

A security claim in the docs stands on the test it cites; a renamed or deleted test must not leave the claim
standing on nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["README.md", "docs/architecture.md", "docs/guide.md", "docs/deploy.md"]
# `tests/unit/test_audit.py::test_name[param]`, `::test_name`, or a bare path to a test file or folder
_REFERENCE = re.compile(r"`((?:tests|examples)/[\w/.-]+)?(?:::(\w+))?(?:\[[^\]]*\])?(?:\s*\([^)`]*\))?`")


def references(page: str) -> list[tuple[str, str | None]]:
    """(path, test name or None) for each reference, in order; `::name` takes the path before it."""
    found: list[tuple[str, str | None]] = []
    path: str | None = None
    for match in _REFERENCE.finditer((ROOT / page).read_text()):
        named_path, test = match.group(1), match.group(2)
        if named_path is None and test is None:
            continue
        path = named_path or path
        if path is not None:
            found.append((path, test))
    return found


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


@pytest.mark.parametrize("page", PAGES)
def test_every_test_a_page_names_exists(page: str) -> None:
    # Given every test reference on the page / When each is looked up / Then its file and function exist
    missing = []
    for path, test in references(page):
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif test is not None and (target.is_dir() or test not in defined_tests(target)):
            missing.append(f"{path}::{test}")
    assert missing == []


def test_the_architecture_page_names_tests_at_all() -> None:
    # a guard on the parser above: the threat model alone cites dozens
    assert len([r for r in references("docs/architecture.md") if r[1] is not None]) > 40
