"""The normalised search key of an account: what `?q=` and offline search match against."""

from __future__ import annotations

from collections.abc import Iterable

from server.normalize import phone_search_keys, search_key


def account_search_key(
    *,
    name: str,
    reading: str | None,
    email: str | None,
    phones: Iterable[str | None],
    contact_names: Iterable[str | None] = (),
) -> str:
    """Folded name, reading, e-mail and contacts' names, then every phone's digit forms."""
    text = search_key(name, reading, email, *contact_names)
    digits = [key for phone in phones if phone for key in phone_search_keys(phone)]
    return "\n".join([text, *digits]) if digits else text
