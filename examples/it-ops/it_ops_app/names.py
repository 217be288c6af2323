"""The names it-ops's catalog declares and its tools use: a module of their own, so that loading
the catalog (every function does) does not load the tools' code (only the agents run it)."""

NETWORK_LINKS = "network_links"
DIRECTORY_SYNC = "directory_sync"
SERVICE_HEALTH = "service_health"
NETWORK_TICKETS = "network_tickets"
RESTART_REQUESTS = "restart_requests"
ONCALL_PAGES = "oncall_pages"
