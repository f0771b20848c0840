"""Password hashing with argon2id."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.settings import Settings


@cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


@cache
def _dummy_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    """Checked against when the e-mail is unknown, so a miss costs as long as a hit.

    Made once per process and cost, on the first unknown e-mail: services are built for
    every request, and an argon2id hash each time would cost every page as much as a login.
    """
    return _hasher(time_cost, memory_kib, parallelism).hash("not a real password")


class Passwords:
    """Hashes and checks passwords with the cost the settings ask for."""

    def __init__(self, settings: Settings) -> None:
        self._cost = (
            settings.password_time_cost,
            settings.password_memory_kib,
            settings.password_parallelism,
        )
        self._hasher = _hasher(*self._cost)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            against = stored or _dummy_hash(*self._cost)
            return self._hasher.verify(against, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
