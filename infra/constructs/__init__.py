"""One construct per capability; IAM comes only from baton.iam (see infra/constructs/roles.py)."""
