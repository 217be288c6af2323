"""`python -m baton.infra`: what an app's cdk.json runs to synthesize its stack."""

from baton.infra.app import main

main()
