"""The one place AWS clients are made. Every component receives clients from here (injectable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.session import Session as BotocoreSession

if TYPE_CHECKING:
    import boto3

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
    """Lazily built, cached AWS clients from one session.

    Several AwsClients may share a session (each with its own observers): the observers are registered on
    each client's own event emitter, and client creation, which is not thread-safe, is serialised.
    `on_client` is called with each client as it is made, after the observers are registered.

    Without a session (a deployed function), the clients come from botocore's own session: boto3 adds resources,
    which Baton never uses, and its import (~12 ms) to every cold start; the clients are the same botocore clients.
    boto3's one addition to a client (an S3 client's upload_file, download_file and the like) is kept, loaded
    when first called (S3_TRANSFER_METHODS).
    """

    _creation_lock = threading.Lock()

    def __init__(
        self,
        session: boto3.Session | None = None,
        observer: CallObserver | None = None,
        on_result: ResultObserver | None = None,
        on_client: ClientHook | None = None,
    ) -> None:
        self._session = session
        self._botocore: BotocoreSession | None = None
        self._observer = observer
        self._on_result = on_result
        self._on_client = on_client
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        with self._creation_lock:
            if service not in self._clients:
                config = _SERVICE_CONFIG.get(service, _CLIENT_CONFIG)
                client = self._make(service, config)
                if self._observer is not None or self._on_result is not None:
                    # the API parameters as the caller gave them (before serialisation)
                    client.meta.events.register("before-parameter-build", self._before)
                if self._on_result is not None:
                    client.meta.events.register("after-call", self._after)
                if self._on_client is not None:
                    self._on_client(service, client)
                self._clients[service] = client
            return self._clients[service]

    def _make(self, service: str, config: Config) -> Any:
        if self._session is not None:
            return self._session.client(service, config=config)  # type: ignore[call-overload]
        if self._botocore is None:
            self._botocore = BotocoreSession()
            self._botocore.register("creating-client-class.s3", _add_s3_transfer_methods)
        return self._botocore.create_client(service, config=config)

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["baton_params"] = params
        if self._observer is not None:
            self._observer(model.service_model.endpoint_prefix, model.name, params)

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if self._on_result is not None:
            params = context.get("baton_params", {})
            self._on_result(model.service_model.endpoint_prefix, model.name, params, parsed)


# boto3's additions to an S3 client (what boto3.s3.inject.inject_s3_transfer_methods adds): a tool may call them.
# Each loads boto3 when first called, so a function that only puts objects never imports boto3 and s3transfer.
S3_TRANSFER_METHODS = ("upload_file", "download_file", "copy", "upload_fileobj", "download_fileobj")


def _add_s3_transfer_methods(**event: Any) -> None:
    for name in S3_TRANSFER_METHODS:
        event["class_attributes"][name] = _s3_transfer_method(name)


def _s3_transfer_method(name: str) -> Callable[..., Any]:
    def method(client: Any, *args: Any, **kwargs: Any) -> Any:
        from boto3.s3 import inject

        return getattr(inject, name)(client, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method
