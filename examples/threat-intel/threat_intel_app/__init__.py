"""The seed's concurrent example: a threat-intelligence workflow querying three feeds at once, merging them."""
