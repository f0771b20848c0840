"""``fieldcrm`` with patches applied at start-up (the smoke mode runs it with cheap passwords).

    FIELDCRM_BENCH_PATCHES=cheap-passwords python -m bench.patched serve --port P

The tree itself is not changed. ``FIELDCRM_BENCH_PATCHES`` names the patches (comma list):

- ``cheap-passwords``: argon2id at its cheapest, as the test suite runs it (the smoke mode,
  whose timings nobody reads).
"""

from __future__ import annotations

import os
from dataclasses import replace

from server.app import create_app
from server.cli import main
from server.settings import Settings

__all__ = ["create_app"]
PATCHES = frozenset(os.environ.get("FIELDCRM_BENCH_PATCHES", "").split(","))


def _cheap_passwords() -> None:
    from_env = Settings.from_env

    def cheap(env_file: object = None) -> Settings:
        return replace(
            from_env(), password_time_cost=1, password_memory_kib=8, password_parallelism=1
        )

    Settings.from_env = cheap  # type: ignore[method-assign]


if "cheap-passwords" in PATCHES:
    _cheap_passwords()

if __name__ == "__main__":
    main()
