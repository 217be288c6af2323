"""The CDK app of a Baton app: `npx cdk synth` with cdk.json's `"app": "python -m baton.infra"`.

It deploys the catalog named by the app's configuration ([tool.baton] in the pyproject.toml of the current
directory, or BATON_CATALOG), with the cdk-nag AwsSolutions and Serverless packs.

Context:
  baton:stack=NAME     the stack's name (default: "Baton")
  baton:bundle=false   ship sources without pip-installed dependencies (tests; never for deployment)
  baton:retain=false   destroy tables, secrets and log groups with the stack (development accounts)
"""

from __future__ import annotations

from aws_cdk import App, RemovalPolicy, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from baton.config import AppConfig, app_config
from baton.infra.bundling import FunctionCode
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
    stack = BatonStack(
        app,
        str(app.node.try_get_context("baton:stack") or STACK_NAME),
        catalog=catalog if isinstance(catalog, AppConfig) else app_config(catalog),
        code=FunctionCode(bundle=_flag(app, "baton:bundle", default=True)),
        removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        description="Baton: agents, orchestration, state and API of the workflow catalog",
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
