"""What each function's asset holds: the runtime's dependency closure and only the sources it imports."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from baton.bundle import KINDS, RUNTIME_DISTRIBUTIONS, RUNTIME_PROVIDED, pinned_versions, source_files
from refund_app.catalog import CATALOG


def _closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = [Requirement(r) for r in roots]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in RUNTIME_PROVIDED or name in seen:
            continue
        seen.add(name)
        for raw in metadata.requires(name) or []:
            child = Requirement(raw)
            environment = {"extra": ",".join(requirement.extras) or ""}
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in (requirement.extras or {""})
            ):
                del environment
                pending.append(child)
    return seen


def test_bundled_distributions_are_the_closure_of_what_the_handlers_import() -> None:
    # Given the handlers' imports (Powertools with its tracer, pydantic), minus what the Lambda runtime provides
    expected = _closure(["aws-lambda-powertools[tracer]", "pydantic"])
    # Then the bundled list is exactly that closure: boto3 and botocore are never bundled
    assert set(RUNTIME_DISTRIBUTIONS) == expected
    assert not set(RUNTIME_DISTRIBUTIONS) & RUNTIME_PROVIDED


def test_versions_are_pinned_exactly() -> None:
    pins = pinned_versions()
    assert set(pins) == set(RUNTIME_DISTRIBUTIONS)
    assert all(version and version[0].isdigit() for version in pins.values())


def test_each_function_ships_only_its_own_handler_and_no_offline_code() -> None:
    for kind in KINDS:
        files = {target.as_posix() for _, target in source_files(kind, CATALOG)}
        assert f"baton/functions/{kind}/handler.py" in files
        assert "baton/functions/__init__.py" in files
        assert "refund_app/catalog.py" in files
        others = {k for k in KINDS if k != kind}
        assert not any(f.startswith(tuple(f"baton/functions/{o}/" for o in others)) for f in files)
        assert not any(f.startswith(("baton/local/", "baton/infra/")) or f == "baton/cli.py" for f in files)
        assert not any(f.startswith("refund_app/offline") for f in files)
        assert not any("__pycache__" in Path(f).parts for f in files)
