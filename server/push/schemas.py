"""Push API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class PushKey(msgspec.Struct):
    """The VAPID public key, as ``applicationServerKey`` for ``pushManager.subscribe``."""

    public_key: str


class DeviceOut(msgspec.Struct):
    id: uuid.UUID
    endpoint: str
    device: str
    created_at: datetime
    last_sent_at: datetime | None


class Devices(msgspec.Struct):
    items: list[DeviceOut]
    next_cursor: str | None = None
