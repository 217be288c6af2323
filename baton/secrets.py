"""The secrets broker: the only way a tool obtains a secret.

Values come from Secrets Manager through Powertools Parameters with a short cache (minutes), are never
put in environment variables, and are registered with the redactor so they cannot leak into text.

A value is stripped of surrounding whitespace (`--secret-string file://key.txt` stores the file's trailing
newline, and a header carrying it makes http.client raise with the header's repr); any other control character
refuses the secret. The AWS SDK's wire logs are muted at DEBUG (baton.redaction.WIRE_LOGGERS): they print the
GetSecretValue response before the value can be registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from baton.redaction import REDACTOR, Redactor, drop_aws_wire_debug_logs

MIN_SECRET_LENGTH = 12
# C0 and C1 controls (DEL included) and the Unicode line and paragraph separators, which split lines too
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

drop_aws_wire_debug_logs()


class SecretUnavailable(Exception):
    """A secret could not be read; the message never contains the value."""


class SecretsBroker:
    def __init__(
        self,
        secretsmanager_client_factory: Callable[[], Any],
        physical_ids: dict[str, str],
        max_age_seconds: int = 300,
        redactor: Redactor = REDACTOR,
    ) -> None:
        # built on first use: functions whose tools need no secret never create a Secrets Manager client
        self._client_factory = secretsmanager_client_factory
        self._provider: SecretsProvider | None = None
        self._physical_ids = physical_ids
        self._max_age = max_age_seconds
        self._redactor = redactor

    def get(self, name: str) -> str:
        physical_id = self._physical_ids.get(name)
        if physical_id is None:
            raise SecretUnavailable(f"secret {name!r} is not configured for this function")
        if self._provider is None:
            # imported here: Powertools' parameters package loads every provider (and boto3.dynamodb's conditions),
            # which a function whose tools read no secret (the orchestrator, most agents) never needs
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            self._provider = SecretsProvider(boto3_client=self._client_factory())
        try:
            value = self._provider.get(physical_id, max_age=self._max_age)
        except Exception as error:  # the provider's errors name the secret id, never its value
            raise SecretUnavailable(f"secret {name!r} could not be read: {type(error).__name__}") from None
        if not isinstance(value, str):
            raise SecretUnavailable(f"secret {name!r} is not a string")
        value = value.strip()
        if _CONTROL.search(value):
            # never say which character or where: both would give away part of the value
            raise SecretUnavailable(
                f"secret {name!r} contains a control character (only surrounding whitespace is stripped)"
            )
        if len(value) < MIN_SECRET_LENGTH:
            raise SecretUnavailable(f"secret {name!r} is not a string of at least {MIN_SECRET_LENGTH} characters")
        self._redactor.register(value)
        return value
