"""Model-backed decisions: agents that converse with a Bedrock model over their allowlisted tools, and a model
planner, both held to the catalog, the run's model budget and the same toolbox as coded agents."""
