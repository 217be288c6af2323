"""What a workflow's offline fixture may use: the deployment it seeds, whichever way it was made.

LocalEngine satisfies it, and so does the test deployment of the synthesized template into moto's
CloudFormation: the same fixture seeds both.
"""

from __future__ import annotations

from typing import Any, Protocol

from baton.aws import AwsClients
from baton.local.http import LocalHttpTransport


class OfflineDeployment(Protocol):
    clients: AwsClients
    physical_ids: dict[str, str]
    http: LocalHttpTransport
    # what each workflow's offline fixture returned, by workflow name (a fixture may reuse another app's)
    fixtures: dict[str, Any]

    def secret_value(self, name: str) -> str: ...
