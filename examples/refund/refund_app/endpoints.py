"""Where the refund app's tools reach outside AWS: read by the catalog (the egress it declares) and by the tools.

A module of its own so that loading the catalog (every function does) does not load the tools' code (only the
agents run it).
"""

PAYMENTS_HOST = "payments.example.com"
# the provider's OAuth 2.0 token endpoint (client credentials): the broker trades the client secret for a token there
PAYMENTS_TOKEN_URL = f"https://{PAYMENTS_HOST}/oauth/token"
