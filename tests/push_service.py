"""A push service on localhost, standing in for the browsers' push services in tests.

It does what a real one does with a message: checks the VAPID authorisation (an ES256 JWT
signed by the key the app serves, for this origin, expiring within 24 hours, with a
contact), decrypts the ``aes128gcm`` body with the keys the test's "browser" subscribed
with (``http_ece``), and records what arrived. Each subscription can be told to answer with
a list of statuses first (410, 429 with Retry-After, …) before it accepts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_EXPIRY_SECONDS = 24 * 60 * 60


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Received:
    """One accepted message, decrypted."""

    subscription: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]


@dataclass
class Browser:
    """The receiving side of one subscription: its keys, as a browser would hold them."""

    key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return b64encode(point)


@dataclass
class PushService:
    server_key: str = ""  # the app's VAPID public key, as GET /api/push/key serves it
    port: int = 0
    browsers: dict[str, Browser] = field(default_factory=dict)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (subscription, why)
    requests: int = 0
    # For benchmarks: answer after this many seconds (a real push service is a network away),
    # and check and decrypt only every n-th message in full (the others are counted).
    delay: float = 0.0
    check_every: int = 1
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{sub}", self._receive)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def subscription(self) -> dict[str, Any]:
        """A new ``PushSubscription.toJSON()`` pointing at this service."""
        name = uuid.uuid4().hex
        browser = Browser.new()
        self.browsers[name] = browser
        return {
            "endpoint": f"{self.origin}/push/{name}",
            "expirationTime": None,
            "keys": {"p256dh": browser.p256dh, "auth": b64encode(browser.auth)},
        }

    def answer(self, subscription: dict[str, Any], *statuses: int, **headers: str) -> None:
        """Answer the next messages to ``subscription`` with these statuses, in turn."""
        name = subscription["endpoint"].rsplit("/", 1)[1]
        self.scripts[name].extend((status, dict(headers)) for status in statuses)

    def to(self, subscription: dict[str, Any]) -> list[Received]:
        name = subscription["endpoint"].rsplit("/", 1)[1]
        return [r for r in self.received if r.subscription == name]

    # -- the push service's side -------------------------------------------------------------

    def _check_vapid(self, header: str) -> dict[str, Any]:
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"not a vapid authorisation: {scheme}")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts["t"], parts["k"]
        if key != self.server_key:
            raise ValueError("signed with a key other than the one the app serves")
        head, body, signature = token.split(".")
        if json.loads(b64decode(head)).get("alg") != "ES256":
            raise ValueError("not ES256")
        raw = b64decode(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64decode(key))
        try:
            public.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("bad signature") from None
        claims: dict[str, Any] = json.loads(b64decode(body))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r} is not {self.origin}")
        now = time.time()
        if not now < int(claims["exp"]) <= now + MAX_EXPIRY_SECONDS:
            raise ValueError("exp not within 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("no contact in sub")
        return claims

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": self.requests,
                "received": len(self.received),
                "distinct": len({r.headers.get("Topic") for r in self.received}),
                "refused": len(self.refused),
            }
        )

    async def _receive(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        name = request.match_info["sub"]
        browser = self.browsers.get(name)
        if browser is None:
            return web.Response(status=404)
        if self.requests % self.check_every:
            await request.read()
            headers = {"Topic": request.headers.get("Topic", "")}
            self.received.append(Received(name, {}, headers, {}))
            return web.Response(status=201)
        try:
            claims = self._check_vapid(request.headers.get("Authorization", ""))
        except (ValueError, KeyError) as bad:
            self.refused.append((name, str(bad)))
            return web.Response(status=401, text=str(bad))
        if self.scripts[name]:
            status, headers = self.scripts[name].pop(0)
            return web.Response(status=status, headers=headers)
        if request.headers.get("Content-Encoding") != "aes128gcm":
            self.refused.append((name, "not aes128gcm"))
            return web.Response(status=400)
        body = await request.read()
        plain = http_ece.decrypt(
            body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm"
        )
        headers = {
            k: request.headers[k] for k in ("TTL", "Urgency", "Topic") if k in request.headers
        }
        self.received.append(Received(name, json.loads(plain), headers, claims))
        return web.Response(status=201)
