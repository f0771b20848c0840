"""Messages in the user's language.

Services never know who reads their messages: they raise errors carrying `Text` (a message id
and its parameters), and the web layer renders them in the reader's locale. The catalogs are
gettext `.po` files under `server/locale`, compiled in memory on first use (no build step).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LOCALE_DIR = Path(__file__).parent / "locale"


@dataclass(frozen=True, slots=True)
class Text:
    """A translatable message; ``str()`` gives the English text."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, locale: str) -> str:
        return translations(locale).gettext(self.msgid).format(**self.params)

    def __str__(self) -> str:
        return self.msgid.format(**self.params)


def render_errors(errors: Mapping[str, Sequence[Text]], locale: str) -> dict[str, list[str]]:
    """Field errors as the reader reads them: ``{field: [message in their language]}``."""
    return {name: [m.render(locale) for m in messages] for name, messages in errors.items()}


def _l(msgid: str, **params: Any) -> Text:
    """Mark a message for extraction and translation later."""
    return Text(msgid, params)


@cache
def translations(locale: str) -> gettext.NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.is_file():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick_locale(accept_language: str | None) -> str:
    """The first supported language in an Accept-Language header, else Japanese."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((weight, lang.strip().lower()[:2]))
    for _weight, lang in sorted(ranked, key=lambda item: -item[0]):
        if lang in LOCALES:
            return lang
    return DEFAULT_LOCALE
