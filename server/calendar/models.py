"""The address of a user's calendar feed.

Calendar apps cannot log in: the address itself is the credential, so it is treated like an
API token and only the SHA-256 of its secret part is stored. The secret is made from the
application's secret key and a random ``nonce`` kept here, so the Me page can show the address
again whenever the user needs it for another calendar, while a copy of the database without
the secret key cannot produce it (that protection needs ``FIELDCRM_SECRET_KEY`` set: a key
generated at first start is stored in the database too). A new secret key retires every
address. Renewing draws a new nonce (the old address stops working); revoking clears the
hash, so no address works until the user makes a new one.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class CalendarFeed(Base):
    __tablename__ = "calendar_feeds"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # None once revoked.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    nonce: Mapped[str | None] = mapped_column(String(64))
    # Counts renewals and revocations, the versions the audit trail names.
    version: Mapped[int] = mapped_column(default=1)
    # When the current address was made.
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
