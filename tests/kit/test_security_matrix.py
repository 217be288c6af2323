"""docs/security.md maps each OWASP agentic risk (ASI01-ASI10) to the tests that attack it: every test it names
must exist where it says, be one pytest collects, and carry `@pytest.mark.attack` with the row's id."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "security.md"
ASI_IDS = [f"ASI{n:02d}" for n in range(1, 11)]
REFERENCE = re.compile(r"`((?:tests|examples)/[\w/.-]+\.py)::(test_\w+)`")


def rows() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for line in MATRIX.read_text().splitlines():
        row = re.match(r"^\| \*\*(ASI\d\d)\*\*", line)
        if row:
            found[row.group(1)] = REFERENCE.findall(line)
    return found


def attack_ids(path: Path, name: str) -> set[str] | None:
    """The ids of `name`'s attack markers, or None when pytest would not collect it as a module-level test."""
    tree = ast.parse(path.read_text())
    for node in tree.body:  # module level: what pytest collects from a test_*.py file
        if isinstance(node, ast.FunctionDef) and node.name == name:
            ids: set[str] = set()
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.attack":
                    ids |= {arg.value for arg in decorator.args if isinstance(arg, ast.Constant)}
            return ids
    return None


def test_every_risk_of_the_top_10_has_a_row_and_attacking_tests() -> None:
    """Given docs/security.md, when its rows are read, then ASI01 to ASI10 each have one with at least one test."""
    found = rows()
    assert sorted(found) == ASI_IDS
    assert all(found[asi] for asi in ASI_IDS), [asi for asi in ASI_IDS if not found[asi]]


def test_every_test_the_matrix_names_is_collected_and_marked_with_its_risk() -> None:
    """Given each test a row names, when its file is read, then it is a module-level test_ function in a test_*.py
    file under the test paths, and its attack marker names the row's risk."""
    problems = []
    for asi, references in rows().items():
        for file, name in references:
            path = ROOT / file
            if not (path.is_file() and path.name.startswith("test_")):
                problems.append(f"{asi}: {file} is not a test file")
                continue
            ids = attack_ids(path, name)
            if ids is None:
                problems.append(f"{asi}: {file}::{name} is not a collected test")
            elif asi not in ids:
                problems.append(f"{asi}: {file}::{name} is not marked attack({asi!r}) (has {sorted(ids)})")
    assert not problems, "\n".join(problems)


def test_a_test_marked_for_a_risk_its_row_does_not_name_is_reported(tmp_path: Path) -> None:
    """Given a test whose marker names another risk, when it is checked, then the mismatch is seen (the check can
    fail)."""
    test_file = tmp_path / "test_x.py"
    test_file.write_text('import pytest\n\n@pytest.mark.attack("ASI02")\ndef test_x() -> None:\n    pass\n')
    assert attack_ids(test_file, "test_x") == {"ASI02"}
    assert attack_ids(test_file, "test_missing") is None
