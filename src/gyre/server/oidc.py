"""OIDC login: an ID token from the team's identity provider, exchanged for a gyre token.

The server trusts one issuer (``gyre server --oidc-issuer URL --oidc-audience ID``). It reads
the issuer's discovery document and signing keys (JWKS, cached; fetched again for a key id it
has not seen), checks the ID token's signature (RS256, ES256 and their kin only: never
``none`` or a shared-secret HMAC), issuer, audience, expiry and not-before, and maps one claim
(``email`` by default) to a gyre user. That user must exist and be enabled, unless the server
was told to make newcomers with a role (``--oidc-new-users reader``). The answer is a gyre
token that expires with the session (at most ``TOKEN_HOURS``), audited like any other.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from gyre.access import tokens, users
from gyre.errors import Forbidden, InvalidParameter, Unauthenticated, Unreachable

if TYPE_CHECKING:
    from gyre.store import Store

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
KEYS_TTL_S = 300.0
LEEWAY_S = 60
TOKEN_HOURS = 12.0


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    claim: str = "email"
    new_users: str | None = None
    """The role of a user the server makes at its first login; None: only existing users."""


class OidcExchange:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._keys: Any = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _key_set(self, refresh: bool = False) -> Any:
        from joserfc.jwk import KeySet

        with self._lock:
            stale = time.monotonic() - self._fetched_at > KEYS_TTL_S
            if self._keys is None or stale or refresh:
                issuer = self.settings.issuer.rstrip("/")
                try:
                    discovery = httpx.get(
                        f"{issuer}/.well-known/openid-configuration", timeout=10
                    ).json()
                    jwks = httpx.get(discovery["jwks_uri"], timeout=10).json()
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    raise Unreachable(
                        f"The OIDC issuer {issuer} did not give its signing keys ({exc}); "
                        "check --oidc-issuer and that the server can reach it."
                    ) from None
                self._keys = KeySet.import_key_set(jwks)
                self._fetched_at = time.monotonic()
            return self._keys

    def verify(self, id_token: str) -> dict[str, Any]:
        """The token's claims, once signature, issuer, audience and times check out."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwt import JWTClaimsRegistry

        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), algorithms=ALGORITHMS)
            except JoseError:  # perhaps a key the issuer rotated in since the last fetch
                decoded = jwt.decode(id_token, self._key_set(refresh=True), algorithms=ALGORITHMS)
            rules = JWTClaimsRegistry(
                now=int(time.time()),
                leeway=LEEWAY_S,
                iss={"essential": True, "value": self.settings.issuer},
                aud={"essential": True, "value": self.settings.audience},
                exp={"essential": True},
            )
            rules.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(
                f"The ID token was refused ({type(exc).__name__}: {exc}); sign in to "
                f"{self.settings.issuer} again and use the new ID token."
            ) from None
        claims: dict[str, Any] = decoded.claims
        return claims

    def exchange(self, store: Store, id_token: str) -> tuple[tokens.IssuedToken, str]:
        """A gyre token for the user the ID token names, and that user's name."""
        if not isinstance(id_token, str) or id_token.count(".") != 2:
            raise InvalidParameter(
                "id_token must be the ID token (a JWT: three base64 parts joined by dots).",
                field="id_token",
            )
        claims = self.verify(id_token)
        name = _user_name(claims.get(self.settings.claim), self.settings.claim)
        known = {u.name: u for u in users.list_users(store)}
        if name not in known:
            if self.settings.new_users is None:
                raise Forbidden(
                    f"{name} signed in through {self.settings.issuer} but is not a gyre user; "
                    f"an admin adds them: gyre user create {name} --role reader."
                )
            users.create(store, name, role=self.settings.new_users)
        elif known[name].disabled_at is not None:
            raise Unauthenticated(f"User {name} is disabled; its logins are refused.")
        session_s = float(claims["exp"]) - time.time()
        lifetime = max(60.0, min(TOKEN_HOURS * 3600, session_s))
        issued = tokens.create(
            store,
            name,
            description=f"OIDC login through {self.settings.issuer}",
            expires_in_s=lifetime,
        )
        return issued, name


def _user_name(value: Any, claim: str) -> str:
    if not isinstance(value, str) or not value:
        raise Unauthenticated(
            f"The ID token has no {claim!r} claim to name a gyre user by; ask the identity "
            "provider's admin to include it, or start the server with --oidc-claim."
        )
    if not users.USER_PATTERN.match(value):
        raise Unauthenticated(
            f"The ID token's {claim!r} is {value!r}, which is not a gyre user name (letters, "
            "digits, '.', '_', '-', '@'); start the server with another --oidc-claim."
        )
    return value
