"""Auth: who is calling. The key a client presents -> its configured `ApiKey` (name, role, limits).

Every endpoint asks here, with the role it needs (the route table in `gateway/api/__init__.py`
says which): `admin` keys may do everything, `client` keys only the model endpoints. A plain
string in `auth.api_keys` is an admin key, so a single-key setup keeps working. Keys are
compared as digests (constant time; the clear keys are not kept), and logged by name only.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers

from gateway.config import ApiKey, AuthConfig
from gateway.errors import AuthenticationFailed, PermissionDenied

ADMIN, CLIENT = "admin", "client"


class Auth:
    def __init__(self, config: AuthConfig) -> None:
        self._keys = [(hashlib.sha256(k.key.encode()).digest(), k) for k in config.api_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, headers: Headers, role: str = CLIENT) -> ApiKey | None:
        """The caller's key (None when auth is off); 401 without a known key, 403 when the
        key's role is not enough."""
        if not self._keys:
            return None
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = headers.get("x-api-key", "")
        return self.key(token, role)

    def key(self, token: str, role: str = CLIENT) -> ApiKey | None:
        """The same check for a token that came some other way (a WebSocket's `?key=`)."""
        if not self._keys:
            return None
        if not token.strip():
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>'.")
        digest = hashlib.sha256(token.strip().encode()).digest()
        for known, key in self._keys:
            if hmac.compare_digest(known, digest):
                if role == ADMIN and key.role != ADMIN:
                    raise PermissionDenied(f"The key {key.name!r} has the {key.role} role; this "
                                           "endpoint needs an admin key.")
                return key
        raise AuthenticationFailed("Incorrect API key provided.")
