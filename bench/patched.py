"""``fieldcrm`` with patches applied at start-up, for measuring what the tree does not do yet.

    FIELDCRM_BENCH_PATCHES=lazy-dummy-hash python -m bench.patched serve --port P

The tree itself is not changed. ``FIELDCRM_BENCH_PATCHES`` names the patches (comma list):

- ``lazy-dummy-hash``, the fix proposed for ``server/auth/passwords.py`` (used by
  ``python -m bench --with-proposed-fixes``): ``Passwords()`` hashes a dummy password with
  argon2id (64 MiB, 3 passes) in its constructor, and the authentication middleware makes an
  ``AuthService``, so a ``Passwords``, on every request — a few hundred milliseconds of CPU on
  the event loop for each page and API call. The dummy is only needed when a login names an
  unknown e-mail; made then, once per ``Passwords``.
- ``cheap-passwords``: argon2id at its cheapest, as the test suite runs it (the smoke mode,
  whose timings nobody reads).
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import cached_property

from argon2 import PasswordHasher

from server.app import create_app
from server.auth.passwords import Passwords
from server.cli import main
from server.settings import Settings

__all__ = ["create_app"]
PATCHES = frozenset(os.environ.get("FIELDCRM_BENCH_PATCHES", "").split(","))


def _init(self: Passwords, settings: Settings) -> None:
    self._hasher = PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def _dummy(self: Passwords) -> str:
    # Checked against when the e-mail is unknown, so a miss costs as long as a hit.
    return self._hasher.hash("not a real password")


def _lazy_dummy_hash() -> None:
    lazy = cached_property(_dummy)
    lazy.__set_name__(Passwords, "_dummy")
    Passwords.__init__ = _init  # type: ignore[method-assign]
    Passwords._dummy = lazy  # type: ignore[assignment]


def _cheap_passwords() -> None:
    from_env = Settings.from_env

    def cheap(env_file: object = None) -> Settings:
        return replace(
            from_env(), password_time_cost=1, password_memory_kib=8, password_parallelism=1
        )

    Settings.from_env = cheap  # type: ignore[method-assign]


if "lazy-dummy-hash" in PATCHES:
    _lazy_dummy_hash()
if "cheap-passwords" in PATCHES:
    _cheap_passwords()

if __name__ == "__main__":
    main()
