"""Every message the product can show exists in Japanese and in English."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from server.i18n import Text, pick_locale, translations
from server.web.templating import make_environment

ROOT = Path(__file__).resolve().parents[1]


def _msgids() -> set[str]:
    found = extract_from_dir(
        str(ROOT / "server"),
        method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
        keywords={"_l": None, "_": None},
    )
    return {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in found
    }


def test_every_message_has_a_japanese_translation() -> None:
    ja = translations("ja")
    missing = sorted(m for m in _msgids() if m and ja.gettext(m) == m)
    assert missing == [], "untranslated (run `make messages` and translate): " + repr(missing)


def test_messages_render_with_their_parameters_in_both_languages() -> None:
    text = Text("Must be at most {max} characters.", {"max": 20})
    assert text.render("en") == "Must be at most 20 characters."
    assert text.render("ja") == "20文字以内で入力してください。"


def test_the_language_follows_accept_language_with_japanese_first() -> None:
    assert pick_locale(None) == "ja"
    assert pick_locale("en-US,en;q=0.9") == "en"
    assert pick_locale("fr-FR,en;q=0.5,ja;q=0.8") == "ja"
    assert pick_locale("de") == "ja"


def test_templates_show_dates_in_the_japanese_era_and_phones_nationally() -> None:
    env = make_environment()
    rendered = env.from_string(
        "{{ '2025-04-01' | wareki }} {{ '2019-05-01' | wareki }} {{ '+819012345678' | phone }} "
        "{{ '1000001' | postal_code }}"
    ).render()
    assert rendered == "令和7年4月1日 令和元年5月1日 090-1234-5678 〒100-0001"
