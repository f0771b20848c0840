"""What every request carries: the user, the session, the language, the channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.i18n import pick_locale

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Auth:
    """How the request was authenticated."""

    kind: str  # "session" | "bearer"
    token: str
    csrf_token: str | None = None


def current_user(request: Request[Any, Any, Any]) -> User | None:
    user = request.scope.get("user")
    return user if isinstance(user, User) else None


def current_auth(request: Request[Any, Any, Any]) -> Auth | None:
    auth = request.scope.get("auth")
    return auth if isinstance(auth, Auth) else None


def is_api(request: Request[Any, Any, Any]) -> bool:
    return request.scope["path"].startswith("/api/") or request.scope["path"] == "/api"


def request_locale(request: Request[Any, Any, Any]) -> str:
    user = current_user(request)
    if user is not None:
        return user.locale
    return pick_locale(request.headers.get("accept-language"))


def actor_for(request: Request[Any, Any, Any], user: User) -> Actor:
    return Actor.of(user, Channel.API if is_api(request) else Channel.WEB)
