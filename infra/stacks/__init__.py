"""Stacks compose the constructs of infra/constructs."""
