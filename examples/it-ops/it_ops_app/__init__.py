"""The it-ops example app: the seed's hierarchical pattern (a top-level workflow routing to sub-workflows)."""
