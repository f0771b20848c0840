"""Form pages for any account, rendered once: the service worker fills in the account.

A rep may log a visit, add a contact, plan a task or edit any account in the briefcase while
offline. Rather than keep every form of every account, the phone keeps each form once, made
for the account `SHELL_ID` named `SHELL_NAME`; offline, the service worker serves it with the
real account's id and name put in, and the page fills in the rest (the contacts to choose
from, the values being edited) from the briefcase. The routes of these forms answer for
`SHELL_ID` without looking the account up.
"""

from __future__ import annotations

import uuid
from typing import Final

SHELL_ID: Final = uuid.UUID("00000000-0000-4000-8000-000000000000")
SHELL_NAME: Final = "__account_name__"


def is_shell(account_id: uuid.UUID | None) -> bool:
    return account_id == SHELL_ID
