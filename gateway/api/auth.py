"""Auth: the client's bearer key -> the key's configured name (logged instead of the key)."""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers

from gateway.config import AuthConfig
from gateway.errors import AuthenticationFailed


class KeyCheck:
    def __init__(self, config: AuthConfig) -> None:
        # Compare digests, not keys: constant time, and the clear keys are not kept around.
        self._keys = [(hashlib.sha256(k.key.encode()).digest(), k.name) for k in config.api_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def name_for(self, headers: Headers) -> str | None:
        """The key's name, None when auth is off; raises AuthenticationFailed otherwise."""
        if not self._keys:
            return None
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = headers.get("x-api-key", "")
        if not token:
            raise AuthenticationFailed(
                "Missing API key: send it as 'Authorization: Bearer <key>'.")
        digest = hashlib.sha256(token.strip().encode()).digest()
        for known, name in self._keys:
            if hmac.compare_digest(known, digest):
                return name
        raise AuthenticationFailed("Incorrect API key provided.")
