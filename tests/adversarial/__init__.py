"""The adversarial suite: injection goals x channels against an obedient planner and obedient agents (issue 10)."""
