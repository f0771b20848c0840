"""Removing a device from the Me page (turning reminders on is done by pwa/js/push.js)."""

from __future__ import annotations

import uuid

from litestar import post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.push.service import PushService
from server.settings import Settings
from server.web.htmx import VARY


@post("/me/devices/{device_id:uuid}/delete", include_in_schema=False)
async def remove_device(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    device_id: FromPath[uuid.UUID],
) -> Redirect:
    """Stop sending reminders to one of my devices."""
    await PushService(db, actor, settings.push_allow_hosts).remove(device_id=device_id)
    return Redirect("/me#devices", status_code=303, headers=VARY)


pages = [remove_device]
