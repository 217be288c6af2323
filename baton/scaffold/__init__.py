"""`baton init DIR`: a new Baton app that runs, tests and synthesizes at once.

The app's files are real files under `app-template/` (package data), rendered with `string.Template`:
`${pkg}` is the package name (DIR's name), `${project}` the distribution name, `${stack}` the CloudFormation
stack name, `${workflow}` the workflow's name, `${baton_version}` this Baton's version; `$$` is a literal `$`.
In paths, `__pkg__` becomes the package name, a leading `dot-` a leading `.`, and the `.tmpl` suffix goes.

Never shipped in a Lambda function (baton.bundle leaves `scaffold` out).
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

from baton import __version__

TEMPLATE_DIR = Path(__file__).resolve().parent / "app-template"
SUFFIX = ".tmpl"
WORKFLOW = "triage"
PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# names an app's package must not take: they would shadow Baton, its test layout, or a dependency
RESERVED = frozenset(
    {"baton", "tests", "test", "examples", "boto3", "botocore", "moto", "pydantic", "pytest", "aws_cdk", "constructs"}
)


class ScaffoldError(ValueError):
    """DIR cannot hold a new app (not empty, or its name is not a package name)."""


@dataclass(frozen=True)
class CreatedApp:
    root: Path
    package: str
    workflow: str
    files: tuple[Path, ...]


def package_name_problem(name: str) -> str | None:
    """Why `name` cannot be the new app's package name, or None."""
    if not PACKAGE_NAME.match(name):
        return (
            f"{name!r} is not a valid Python package name: use lowercase letters, digits and underscores, "
            "starting with a letter (at most 40 characters)"
        )
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword, so it cannot be a package name"
    if name in RESERVED or name in sys.stdlib_module_names:
        return f"{name!r} would shadow the module of the same name; pick another directory name"
    return None


def templates() -> list[Path]:
    return sorted(path for path in TEMPLATE_DIR.rglob(f"*{SUFFIX}") if path.is_file())


def _target(template: Path, package: str) -> Path:
    relative = template.relative_to(TEMPLATE_DIR)
    parts = [part.replace("__pkg__", package) for part in relative.parts]
    parts[-1] = parts[-1].removesuffix(SUFFIX)
    if parts[-1].startswith("dot-"):
        parts[-1] = "." + parts[-1].removeprefix("dot-")
    return Path(*parts)


def render(template: Path, values: dict[str, str]) -> str:
    return Template(template.read_text(encoding="utf-8")).substitute(values)


def create_app(directory: Path) -> CreatedApp:
    """Write a new app into `directory` (created if missing, refused unless empty)."""
    root = directory.resolve()
    package = root.name
    problem = package_name_problem(package)
    if problem is not None:
        raise ScaffoldError(problem)
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{str(directory)!r} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()):
        raise ScaffoldError(f"{str(directory)!r} is not empty: baton init writes only into a new or empty folder")
    found = templates()
    if not found:
        raise ScaffoldError(f"Baton's app templates are missing from {TEMPLATE_DIR} (a broken installation)")
    values = {
        "pkg": package,
        "project": package.replace("_", "-"),
        "stack": package.replace("_", "-"),
        "workflow": WORKFLOW,
        "baton_version": __version__,
    }
    rendered = [(_target(template, package), render(template, values)) for template in found]
    try:
        root.mkdir(parents=True, exist_ok=True)
        for relative, text in rendered:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(text, encoding="utf-8")
    except OSError as error:
        raise ScaffoldError(f"cannot write the app into {str(directory)!r}: {error.strerror}") from None
    files = tuple(sorted(root / relative for relative, _ in rendered))
    return CreatedApp(root=root, package=package, workflow=WORKFLOW, files=files)
