"""The CDK app of Baton: stacks built from the same catalog as the runtime (see infra/app.py)."""
