"""The names threat-intel's catalog declares and its tools use: a module of their own, so that loading
the catalog (every function does) does not load the tools' code (only the agents run it)."""

FEED_HOSTS = {"feed_a": "feed-a.example.com", "feed_b": "feed-b.example.com", "feed_c": "feed-c.example.com"}
