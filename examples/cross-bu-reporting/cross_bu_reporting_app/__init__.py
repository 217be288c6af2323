"""The seed's federated pattern: business unit A's sales summary, consumed by business unit B's report."""
