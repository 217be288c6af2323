"""Baton: security-first, serverless orchestration of AI agents on AWS."""

__version__ = "0.2.0"
