"""Domain errors raised by services; `server.web.errors` turns them into responses."""

from __future__ import annotations

from typing import Any

from server.i18n import Text, _l


class DomainError(Exception):
    """Base of every error a service raises on purpose."""


class NotFound(DomainError):  # noqa: N818 - reads as what happened
    """The record does not exist, or the caller may not see it (the two look the same)."""

    def __init__(self, entity: str) -> None:
        super().__init__(f"{entity} not found")
        self.entity = entity


class Forbidden(DomainError):  # noqa: N818
    """The caller may see the record but not do this to it."""

    def __init__(self, message: Text | None = None) -> None:
        self.message = message or _l("You are not allowed to do this.")
        super().__init__(str(self.message))


class ValidationFailed(DomainError):  # noqa: N818
    """One or more fields are bad; every bad field is named."""

    def __init__(self, errors: dict[str, list[Text]]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


class BadRequest(DomainError):  # noqa: N818
    """The request itself cannot be read: a query parameter, a cursor, a body's shape (400).

    Unlike `ValidationFailed` (a record's fields, 422) it names parts of the request.
    """

    def __init__(self, errors: dict[str, list[Text]]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


class Merged(DomainError):  # noqa: N818
    """The account was merged into another; its id answers with a redirect to the survivor."""

    def __init__(self, entity: str, merged_id: Any, survivor_id: Any) -> None:
        super().__init__(f"{entity} {merged_id} was merged into {survivor_id}")
        self.entity = entity
        self.merged_id = merged_id
        self.survivor_id = survivor_id


class Conflict(DomainError):  # noqa: N818
    """Someone else changed the same fields since the version the change was based on."""

    def __init__(
        self, fields: list[str], current: dict[str, Any], version: int, message: Text | None = None
    ) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields
        self.current = current
        self.version = version
        self.message = message or _l("Someone else changed this record meanwhile.")


class IdInUse(DomainError):  # noqa: N818
    """A create reused an id that already names a different record."""

    def __init__(self, entity: str) -> None:
        super().__init__(f"id already used by another {entity}")
        self.entity = entity


class Throttled(DomainError):  # noqa: N818
    """Too many failed attempts; the caller must wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class Unauthenticated(DomainError):  # noqa: N818
    """No valid session or token."""


class Errors:
    """Collects field errors so a check can name every bad field, not only the first."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[Text]] = {}

    def add(self, name: str, message: Text) -> None:
        self.by_field.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationFailed(self.by_field)
