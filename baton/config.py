"""Where an app's catalog lives, and loading it.

An app names its catalog once, in its own pyproject.toml:

    [tool.baton]
    catalog = "myapp.catalog:CATALOG"        # or a list of several apps' catalogs, merged into one

`--catalog` (CLI) and the BATON_CATALOG environment variable (comma-separated dotted paths; what CDK gives
every Lambda function) override it. The directory of that pyproject.toml is put on sys.path, so an app runs
offline and synthesizes without being installed first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import NamedTuple

from baton.catalog import Catalog, CatalogError, WorkflowSpec, resolve
from baton.settings import ENV_CATALOG

CONFIG_FILE = "pyproject.toml"


class ConfigError(ValueError):
    """No catalog is configured, or the configuration is malformed."""


class AppConfig(NamedTuple):  # NamedTuples, not dataclasses: every function builds these classes at its cold start
    catalogs: tuple[str, ...]
    # the directory of the pyproject.toml that named the catalog (None: named by flag or environment only)
    root: Path | None = None

    @property
    def env_value(self) -> str:
        return ",".join(self.catalogs)


def parse_catalog_paths(value: str | list[str]) -> tuple[str, ...]:
    paths = [value] if isinstance(value, str) else value
    parsed = tuple(p.strip() for path in paths for p in path.split(",") if p.strip())
    if not parsed:
        raise ConfigError("no catalog named: expected 'package.module:ATTRIBUTE'")
    return parsed


def find_config_file(start: Path) -> tuple[Path, dict[str, object]] | None:
    """The nearest pyproject.toml at or above `start` that has a [tool.baton] table."""
    import tomllib  # only the CLI and the offline engine read a pyproject: no Lambda function loads the parser

    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if not candidate.is_file():
            continue
        try:
            data = tomllib.loads(candidate.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{candidate} is not valid TOML: {error}") from None
        section = data.get("tool", {}).get("baton")
        if isinstance(section, dict):
            return candidate, section
    return None


def app_config(explicit: str | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> AppConfig:
    """The catalog to use: --catalog, else BATON_CATALOG, else [tool.baton] catalog of the nearest pyproject."""
    environment = os.environ if env is None else env
    found = find_config_file((cwd or Path.cwd()).resolve())
    root = found[0].parent if found else None
    if explicit:
        return AppConfig(parse_catalog_paths(explicit), root)
    if environment.get(ENV_CATALOG):
        return AppConfig(parse_catalog_paths(environment[ENV_CATALOG]), root)
    if found is None:
        raise ConfigError(
            f"no catalog configured: add [tool.baton] catalog = 'myapp.catalog:CATALOG' to {CONFIG_FILE}, "
            f"set {ENV_CATALOG}, or pass --catalog"
        )
    path, section = found
    value = section.get("catalog")
    if not isinstance(value, str | list) or not all(
        isinstance(v, str) for v in (value if isinstance(value, list) else [value])
    ):
        raise ConfigError(f"[tool.baton] catalog in {path} must be a dotted path or a list of them")
    return AppConfig(parse_catalog_paths(value), root)


class LoadedApp(NamedTuple):
    """The merged catalog of an app, and which of its catalogs declared each workflow and agent."""

    config: AppConfig
    parts: tuple[tuple[str, Catalog], ...]
    catalog: Catalog

    def source_of_workflow(self, name: str) -> str:
        return next(path for path, part in self.parts if name in part.workflows)

    def source_of_agent(self, name: str) -> str:
        return next(path for path, part in self.parts if name in part.agents)

    def workflow_sources(self) -> dict[str, str]:
        """Each workflow of the app, with the catalog declaring it (the API's BATON_WORKFLOW_CATALOGS)."""
        return {name: self.source_of_workflow(name) for name in self.catalog.workflows}


def load_app(config: AppConfig) -> LoadedApp:
    parts = tuple(load_parts(config))
    catalog = parts[0][1] if len(parts) == 1 else Catalog.merge(*(part for _, part in parts))
    return LoadedApp(config, parts, catalog)


def load_parts(config: AppConfig) -> Iterator[tuple[str, Catalog]]:
    """Each catalog of the app with its path, loaded in order as it is asked for; the app's modules are imported from
    the directory of the pyproject.toml that named them."""
    if config.root is not None and str(config.root) not in sys.path:
        sys.path.insert(0, str(config.root))
    for path in config.catalogs:
        yield path, load_catalog(path)


@cache
def load_catalog(path: str) -> Catalog:
    """The catalog one dotted path names (imported once per process)."""
    try:
        catalog = resolve(path)
    except (ImportError, AttributeError) as error:
        raise CatalogError(f"cannot load catalog {path!r}: {type(error).__name__}: {error}") from None
    if not isinstance(catalog, Catalog):
        raise CatalogError(f"{path!r} is not a Catalog (it is a {type(catalog).__name__})")
    return catalog


def catalog_from_env(env: Mapping[str, str]) -> Catalog:
    """What a Lambda function serves: the catalog(s) its BATON_CATALOG names (set by the infrastructure)."""
    value = env.get(ENV_CATALOG)
    if not value:
        raise ConfigError(f"{ENV_CATALOG} is not set")
    return load_app(AppConfig(parse_catalog_paths(value))).catalog


class WorkflowDirectory(Mapping[str, WorkflowSpec]):
    """The workflows a function serves by name, each loaded with the catalog declaring it when first looked up.

    The API serves every workflow of an app, which may merge many catalogs: a request needs only the one workflow
    it names, so a cold start loads that workflow's catalog alone (the merge of all of them was checked when the
    app was synthesized). A name it does not list is no workflow here (`get` answers None: fail closed).
    """

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._sources = dict(sources)

    def __getitem__(self, name: str) -> WorkflowSpec:
        path = self._sources[name]
        workflow = load_catalog(path).workflows.get(name)
        if workflow is None:  # a deployment whose configuration and code disagree: refuse, never guess
            raise CatalogError(f"{path!r} declares no workflow {name!r}")
        return workflow

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)
