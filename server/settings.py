"""Configuration from the environment (and an optional `.env` file)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///fieldcrm.db"


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "on", "true", "yes"}


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.strip() else default


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app needs to start; tests build their own."""

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str | None = None
    vapid_private_key: str | None = None
    # The contact push services may write to about this deployment's pushes (VAPID "sub").
    vapid_subject: str = "mailto:admin@fieldcrm.example"
    worker: bool = True
    push_allow_hosts: frozenset[str] = field(default_factory=frozenset)
    session_idle_days: int = 14
    session_max_days: int = 30
    session_touch_seconds: int = 300
    # argon2id cost; argon2-cffi's defaults (RFC 9106 low-memory profile) unless overridden.
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    password_parallelism: int = 4
    login_free_attempts_account: int = 5
    login_free_attempts_client: int = 20
    login_max_delay_seconds: int = 900
    default_locale: str = "ja"
    default_time_zone: str = "Asia/Tokyo"
    # Proxies whose X-Forwarded-* headers are believed (scheme, client address).
    forwarded_allow_ips: str = "127.0.0.1"
    debug: bool = False
    # A label for what is deployed (a commit id); it joins the hash of the shipped files in the
    # version that service workers and briefcases are keyed by.
    release: str = ""
    # Where the worker writes the daily backups; by default `backups` beside the SQLite file
    # (or in the working directory for PostgreSQL): see `backup_path`.
    backup_dir: Path | None = None

    @classmethod
    def from_env(cls, env_file: Path | None = Path(".env")) -> Settings:
        """Read `FIELDCRM_*` variables; the process environment wins over `.env`."""
        values: dict[str, str | None] = {}
        if env_file is not None and env_file.is_file():
            values.update(dotenv_values(env_file))
        values.update({k: v for k, v in os.environ.items() if k.startswith("FIELDCRM_")})

        def get(name: str) -> str | None:
            value = values.get(f"FIELDCRM_{name}")
            return value if value else None

        hosts = get("PUSH_ALLOW_HOSTS") or ""
        return cls(
            database_url=get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret_key=get("SECRET_KEY"),
            vapid_private_key=get("VAPID_PRIVATE_KEY"),
            vapid_subject=get("VAPID_SUBJECT") or "mailto:admin@fieldcrm.example",
            worker=_flag(get("WORKER"), default=True),
            push_allow_hosts=frozenset(h.strip().lower() for h in hosts.split(",") if h.strip()),
            session_idle_days=_int(get("SESSION_IDLE_DAYS"), 14),
            session_max_days=_int(get("SESSION_MAX_DAYS"), 30),
            forwarded_allow_ips=get("FORWARDED_ALLOW_IPS") or "127.0.0.1",
            debug=_flag(get("DEBUG"), default=False),
            release=get("RELEASE") or "",
            backup_dir=Path(path) if (path := get("BACKUP_DIR")) else None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def backup_path(self) -> Path:
        """``FIELDCRM_BACKUP_DIR``, else ``backups`` beside the SQLite file, else in the
        working directory (PostgreSQL, or SQLite in memory)."""
        if self.backup_dir is not None:
            return self.backup_dir
        if self.is_sqlite:
            database = make_url(self.database_url).database
            if database and database != ":memory:":
                return Path(database).parent / "backups"
        return Path("backups")
