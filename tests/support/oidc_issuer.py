"""An OIDC issuer stand-in: a real HTTP server with a discovery document and a JWKS, signing
real ID tokens (RS256) with a key made for the test. It issues tokens only when asked; it has
no login page (the identity provider's part that the server never sees)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


class OidcIssuer:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "signing-1", "use": "sig"})
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.url,
                        "jwks_uri": f"{issuer.url}/jwks",
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/jwks":
                    body = {"keys": [issuer.key.as_dict(private=False)]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def id_token(
        self,
        audience: str = "gyre",
        lifetime_s: float = 3600,
        key: RSAKey | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "aud": audience,
            "iat": now,
            "exp": now + int(lifetime_s),
            "sub": "user-1",
            **claims,
        }
        signer = key or self.key
        return jwt.encode({"alg": "RS256", "kid": signer.kid or "signing-1"}, payload, signer)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
