"""One Web Push message on the wire: encrypted for its device, signed for its push service.

- The body is encrypted for each message on its own (RFC 8291, ``aes128gcm``, by pywebpush's
  `WebPusher`, kept per device with its keys decoded): a fresh ECDH key pair and salt every
  time, as the RFC asks.
- The VAPID authorisation (RFC 8292) is a JWT for the push service's origin, not for one
  message. It is signed once per origin and reused for `TOKEN_REUSE`, as busy senders do,
  rather than one ES256 signature per message. Each token expires `TOKEN_LIFETIME` after it
  was signed (push services refuse more than 24 hours), so one reused until its last moment
  still has hours to run.
- Messages go out through one aiohttp session whose connections are kept alive between
  messages to the same push service, and checked at connect time by the guard's resolver.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid01
from pywebpush import WebPusher
from yarl import URL

from server.push import guard
from server.push.service import AUTH_BYTES

TOKEN_LIFETIME_SECONDS = 12 * 60 * 60
TOKEN_REUSE_SECONDS = 10 * 60
# Forget the tokens of origins not sent to lately once this many are kept.
TOKENS_KEPT = 1000
# Idle connections to a push service stay open this long for the next messages.
KEEPALIVE_SECONDS = 60.0
# The longest a push service may take to answer one message.
TIMEOUT = aiohttp.ClientTimeout(total=10.0)


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Device:
    """A subscription as a send needs it: where to, the origin to sign for, its encrypter."""

    endpoint: URL
    origin: str
    pusher: WebPusher

    @classmethod
    def of(cls, endpoint: str, p256dh: str, auth: str, allow_hosts: frozenset[str]) -> Device:
        """Raises `guard.RefusedEndpoint` for an endpoint push must not go to, and
        ``ValueError`` for keys that are not a browser's."""
        guard.parse(endpoint, allow_hosts)
        parts = urlsplit(endpoint)
        # A browser's key is a P-256 point and its secret 16 bytes; pywebpush checks neither.
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64decode(p256dh))
        if len(b64decode(auth)) != AUTH_BYTES:
            raise ValueError(f"the auth secret is not {AUTH_BYTES} bytes")
        pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        return cls(
            endpoint=URL(endpoint, encoded=True),
            origin=f"{parts.scheme}://{parts.netloc}",
            pusher=pusher,
        )


def encrypt(payload: bytes, device: Device) -> bytes:
    """``payload`` as an ``aes128gcm`` body only ``device`` can read (one key pair each)."""
    body: bytes = device.pusher.encode(payload, content_encoding="aes128gcm")["body"]
    return body


class Signer:
    """The ``Authorization`` header for each push service, re-signed when its reuse is over."""

    def __init__(
        self, vapid: Vapid01, subject: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.vapid = vapid
        self.subject = subject
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # origin: (header, reuse until)

    def authorization(self, origin: str) -> str:
        now = self.clock()
        kept = self._tokens.get(origin)
        if kept is not None and now < kept[1]:
            return kept[0]
        if len(self._tokens) >= TOKENS_KEPT:
            self._tokens = {o: t for o, t in self._tokens.items() if now < t[1]}
        claims = {"aud": origin, "exp": int(now) + TOKEN_LIFETIME_SECONDS, "sub": self.subject}
        header = str(self.vapid.sign(claims)["Authorization"])
        self._tokens[origin] = (header, now + TOKEN_REUSE_SECONDS)
        return header


@dataclass(frozen=True, slots=True)
class Answer:
    """What the push service said: its status, and for a refusal why and when to retry."""

    status: int
    reason: str = ""
    retry_after: str | None = None


def session(allow_hosts: frozenset[str], connections: int) -> aiohttp.ClientSession:
    """One session for every push service: kept-alive connections, resolved by the guard."""
    connector = aiohttp.TCPConnector(
        resolver=guard.PublicOnlyResolver(allow_hosts),
        limit=connections,
        keepalive_timeout=KEEPALIVE_SECONDS,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        skip_auto_headers=("Accept-Encoding",),  # answers are read as sent, never compressed
        auto_decompress=False,
    )


async def post(
    http: aiohttp.ClientSession,
    device: Device,
    body: bytes,
    headers: Mapping[str, str],
) -> Answer:
    """Send one encrypted message; raises aiohttp's errors when no answer came in time."""
    async with http.post(device.endpoint, data=body, headers=headers, timeout=TIMEOUT) as answer:
        if answer.status <= 202:
            return Answer(answer.status)
        text = await answer.text(errors="replace")
        return Answer(
            answer.status,
            f"{answer.status} {answer.reason}: {text}"[:500],
            answer.headers.get("Retry-After"),
        )
