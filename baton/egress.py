"""What a tool may reach, and how reaching out fails: an egress entry, the origin a URL needs, and the two errors.

Apart from baton.http (the client and the real network) so that a function checking its catalog's declarations
(every function loads its catalog) or catching a failed request does not load the HTTP client.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from baton.catalog import EGRESS_PATTERN

DEFAULT_PORTS = {"https": 443, "http": 80}


class EgressDenied(Exception):
    """A policy refusal (destination, scheme, port, address or redirect); retrying cannot help."""


class HttpError(Exception):
    """The request could not be completed (connection error, timeout, oversized answer). Names method and host only."""


class EgressRule(NamedTuple):  # a NamedTuple, not a dataclass: no exec at import
    """One origin a tool may reach: what an egress entry admits, and what a URL needs to be admitted."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, entry: str) -> EgressRule:
        """An egress entry ("host", "host:port", "http://host[:port]"); a bare host admits only its default port."""
        if not re.fullmatch(EGRESS_PATTERN, entry):
            raise ValueError(f"{entry!r} is not an egress entry: host, host:port or http://host[:port]")
        scheme, _, authority = entry.rpartition("://")
        scheme = scheme or "https"
        host, _, port = authority.partition(":")
        number = int(port) if port else DEFAULT_PORTS[scheme]
        if not 0 < number < 65536:
            raise ValueError(f"egress entry {entry!r} names port {number}, outside 1-65535")
        return cls(scheme, host, number)

    @classmethod
    def of_url(cls, url: str) -> EgressRule:
        """The rule a URL needs. URLs that no rule can admit (other schemes, userinfo, bad ports) are refused."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise EgressDenied(f"only http(s) URLs can be allowed, not {parts.scheme or 'a relative URL'!r}")
        if "@" in parts.netloc:
            raise EgressDenied(f"URL for {parts.hostname!r} carries userinfo, which is never sent")
        if not parts.hostname:
            raise EgressDenied("URL names no host")
        try:
            port = parts.port
        except ValueError:
            raise EgressDenied(f"URL for {parts.hostname!r} has an invalid port") from None
        return cls(parts.scheme, parts.hostname, DEFAULT_PORTS[parts.scheme] if port is None else port)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"
