"""Baton's own test app: several workflows (sequential, concurrent, Express, an irreversible payout) that
exercise every kind of resource, tool and agent the catalog knows. Baton's tests run against it; the
reference workflows under examples/ test themselves."""
