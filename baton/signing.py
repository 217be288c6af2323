"""Signing audit heads with the workflow's asymmetric KMS key (see baton.audit for why ECDSA P-256 over RAW)."""

from __future__ import annotations

import base64
from typing import Any

SIGNING_ALGORITHM = "ECDSA_SHA_256"
MAX_MESSAGE_BYTES = 4096  # KMS signs RAW messages of at most 4 KB


class KmsHeadSigner:
    def __init__(self, kms_client: Any, key_id: str) -> None:
        self._kms = kms_client
        self.key_id = key_id

    def sign(self, message: bytes) -> str:
        if len(message) > MAX_MESSAGE_BYTES:
            raise ValueError(f"a signed head message is at most {MAX_MESSAGE_BYTES} bytes, not {len(message)}")
        response = self._kms.sign(
            KeyId=self.key_id, Message=message, MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM
        )
        return base64.b64encode(response["Signature"]).decode()


def public_key_pem(kms_client: Any, key_id: str) -> bytes:
    """The key's public half, PEM-encoded, for `baton audit verify --public-key`."""
    der = kms_client.get_public_key(KeyId=key_id)["PublicKey"]
    lines = [base64.b64encode(der).decode()[i : i + 64] for i in range(0, len(base64.b64encode(der)), 64)]
    return ("-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n").encode()
