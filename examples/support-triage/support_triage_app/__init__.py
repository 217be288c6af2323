"""Support triage: a model planner reads a customer's message and chooses the agents that handle it."""
