"""The names security-alerting's catalog declares and its tools use: a module of their own, so that loading
the catalog (every function does) does not load the tools' code (only the agents run it)."""

BUS = "security_findings"
ASSET_OWNERS = "asset_owners"
ALERT_PAGES = "alert_pages"
SOURCE = "baton.security-alerting"
DETAIL_TYPE = "Security Finding"
# what the asset inventory holds offline (an SSM parameter: resource id -> owning team and environment)
ASSET_INVENTORY = {
    "payments-exports": {"team": "payments", "environment": "production"},
    "marketing-site": {"team": "web", "environment": "production"},
    "scratch-bucket": {"team": "platform", "environment": "development"},
}
