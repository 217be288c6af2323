"""The CDK app of a Baton app: `npx cdk synth` with cdk.json's `"app": "python -m baton.infra"`.

It deploys the catalog named by the app's configuration ([tool.baton] in the pyproject.toml of the current
directory, or BATON_CATALOG), with the cdk-nag AwsSolutions and Serverless packs.

Context:
  baton:stack=NAME     the stack's name (default: "Baton")
  baton:bundle=false   ship sources without pip-installed dependencies (tests; never for deployment)
  baton:retain=false   destroy tables, secrets and log groups with the stack (development accounts); the audit
                       archive bucket and the audit signing keys are always retained (the archive is under
                       Object Lock, and its signatures stay verifiable only with the keys)
  baton:audit-retention-days=N  how long each archived audit record is locked (default 365)
  baton:pip-index-url=URL  the index the Lambda dependencies are fetched from (default: https://pypi.org/simple)
  baton:wheelhouse=DIR     fetch them from a directory of wheels instead, with no index (both: hash-checked)

Every IAM action of the catalog and of the roles derived from it must be a real IAM action: an unknown one
fails the synthesis with one line naming each (baton.iam_actions).
"""

from __future__ import annotations

import sys

from aws_cdk import App, RemovalPolicy, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from baton.catalog import CatalogError
from baton.config import AppConfig, app_config, load_app
from baton.iam_actions import check_actions
from baton.infra.bundling import FunctionCode, PackageSource
from baton.infra.stacks.baton_stack import BatonStack

STACK_NAME = "Baton"


def _flag(app: App, name: str, default: bool) -> bool:
    value = app.node.try_get_context(name)
    if value is None:
        return default
    return str(value).lower() not in {"false", "0", "no"}


def build_app(app: App | None = None, catalog: str | AppConfig | None = None) -> tuple[App, BatonStack]:
    app = app or App()
    retain = _flag(app, "baton:retain", default=True)
    config = catalog if isinstance(catalog, AppConfig) else app_config(catalog)
    check_actions(load_app(config).catalog)
    stack = BatonStack(
        app,
        str(app.node.try_get_context("baton:stack") or STACK_NAME),
        catalog=config,
        code=FunctionCode(bundle=_flag(app, "baton:bundle", default=True), source=PackageSource.from_context(app.node)),
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        audit_retention_days=int(app.node.try_get_context("baton:audit-retention-days") or 365),
        description="Baton: agents, orchestration, state and API of the workflow catalog",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack


def main() -> None:
    try:
        app, _ = build_app()
    except CatalogError as error:  # an unknown IAM action, a malformed catalog: one line, no traceback
        sys.exit(f"baton: {error}")
    app.synth()


if __name__ == "__main__":
    main()
