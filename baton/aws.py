"""The one place boto3 clients are made. Every component receives clients from here (injectable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

# Called with (service, operation, params) before every AWS request, e.g. to record an agent's calls.
CallObserver = Callable[[str, str, dict[str, Any]], None]
# Called with (service, operation, params, parsed response) after every AWS request, e.g. to meter it.
ResultObserver = Callable[[str, str, dict[str, Any], dict[str, Any]], None]
# Called with (service, client) once per client, when it is made (the offline engine attaches model doubles).
ClientHook = Callable[[str, Any], None]

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
# a model's answer takes seconds to tens of seconds to generate: Converse may wait longer than other calls
_SERVICE_CONFIG = {"bedrock-runtime": _CLIENT_CONFIG.merge(Config(read_timeout=120))}


class AwsClients:
    """Lazily built, cached boto3 clients from one session.

    Several AwsClients may share a session (each with its own observers): the observers are registered on
    each client's own event emitter, and client creation, which is not thread-safe, is serialised.
    `on_client` is called with each client as it is made, after the observers are registered.
    """

    _creation_lock = threading.Lock()

    def __init__(
        self,
        session: boto3.Session | None = None,
        observer: CallObserver | None = None,
        on_result: ResultObserver | None = None,
        on_client: ClientHook | None = None,
    ) -> None:
        self._session = session or boto3.Session()
        self._observer = observer
        self._on_result = on_result
        self._on_client = on_client
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        with self._creation_lock:
            if service not in self._clients:
                config = _SERVICE_CONFIG.get(service, _CLIENT_CONFIG)
                client = self._session.client(service, config=config)  # type: ignore[call-overload]
                if self._observer is not None or self._on_result is not None:
                    # the API parameters as the caller gave them (before serialisation)
                    client.meta.events.register("before-parameter-build", self._before)
                if self._on_result is not None:
                    client.meta.events.register("after-call", self._after)
                if self._on_client is not None:
                    self._on_client(service, client)
                self._clients[service] = client
            return self._clients[service]

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["baton_params"] = params
        if self._observer is not None:
            self._observer(model.service_model.endpoint_prefix, model.name, params)

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self._on_result is not None:
            params = context.get("baton_params", {})
            self._on_result(model.service_model.endpoint_prefix, model.name, params, parsed)
