"""Baton's CDK constructs (`pip install baton[cdk]`): `BatonStack` deploys an app's catalog.

from aws_cdk import App
from baton.infra import BatonStack

app = App()
BatonStack(app, "MyApp", catalog="myapp.catalog:CATALOG")
app.synth()
"""

from baton.infra.app import build_app
from baton.infra.stacks.baton_stack import BatonStack

__all__ = ["BatonStack", "build_app"]
