"""The seed's event-driven pattern: a detection agent publishes a finding; enrichment and notification start on it."""
