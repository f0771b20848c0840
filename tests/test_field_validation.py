"""The one validator of custom values: every type, required, defaults, unknown and retired keys."""

from __future__ import annotations

from typing import Any

import pytest

from server.errors import ValidationFailed
from server.fields.definitions import check_definition
from server.fields.industries import TEMPLATES
from server.fields.types import Spec, check_pattern, input_value, parse_value
from server.fields.validator import clean_values
from server.i18n import Text
from server.validation import BadValue

OPTIONS = ("1K", "1LDK", "2LDK")
BAD_URL_EN = "Not a valid web address (it must start with http:// or https://)."


def spec(kind: str, **rules: Any) -> Spec:
    return Spec(key="f", type=kind, **rules)


def refused(kind: str, raw: Any, **rules: Any) -> Text:
    with pytest.raises(BadValue) as caught:
        parse_value(spec(kind, **rules), raw)
    return caught.value.message


def messages(errors: dict[str, list[Text]], locale: str) -> dict[str, list[str]]:
    return {name: [m.render(locale) for m in texts] for name, texts in errors.items()}


# -- one value of each type -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "rules", "stored"),
    [
        ("text", "  カローラ  ", {}, "カローラ"),
        ("text", 42, {}, "42"),
        ("long_text", "一行目\r\n二行目", {}, "一行目\n二行目"),
        ("integer", 1990, {"minimum": 1950, "maximum": 2100}, 1990),
        ("integer", "１９９０", {}, 1990),
        ("integer", "1,200", {}, 1200),
        ("integer", 2000.0, {}, 2000),
        ("integer", "-5", {}, -5),
        ("number", "2.5", {}, 2.5),
        ("number", 3, {}, 3),
        ("yen", "¥120,000", {"minimum": 0}, 120000),
        ("yen", "98000円", {}, 98000),
        ("yen", "￥１，５００", {}, 1500),
        ("date", "2025-04-01", {}, "2025-04-01"),
        ("date", "2025/4/1", {}, "2025-04-01"),
        ("date", "令和7年4月1日", {}, "2025-04-01"),
        ("date", "R7.4.1", {}, "2025-04-01"),
        ("date", "平成31年4月30日", {}, "2019-04-30"),
        ("datetime", "2025-04-01T10:00+09:00", {}, "2025-04-01T01:00:00+00:00"),
        ("datetime", "2025-04-01T10:00", {}, "2025-04-01T01:00:00+00:00"),
        ("datetime", "2025-04-01T01:00:00Z", {}, "2025-04-01T01:00:00+00:00"),
        ("boolean", True, {}, True),
        ("boolean", "true", {}, True),
        ("boolean", "on", {}, True),
        ("boolean", "1", {}, True),
        ("boolean", "0", {}, False),
        ("boolean", "false", {}, False),
        ("boolean", 0, {}, False),
        ("select", "1LDK", {"options": OPTIONS}, "1LDK"),
        ("multi_select", ["2LDK", "1K", "2LDK"], {"options": OPTIONS}, ["2LDK", "1K"]),
        ("multi_select", "1K", {"options": OPTIONS}, ["1K"]),
        ("phone", "090-1234-5678", {}, "+819012345678"),
        ("phone", "０３（３１２３）４５６７", {}, "+81331234567"),
        ("email", "Taro@Example.CO.JP", {}, "Taro@example.co.jp"),
        ("url", " https://example.jp/cars?id=1 ", {}, "https://example.jp/cars?id=1"),
        ("postal_code", "〒100-0001", {}, "1000001"),
        ("postal_code", "１００－０００１", {}, "1000001"),
        ("text", "AB1234", {"pattern": "[A-Z]{2}[0-9]{4}"}, "AB1234"),
    ],
)
def test_good_values_are_stored_normalised(
    kind: str, raw: Any, rules: dict[str, Any], stored: Any
) -> None:
    assert parse_value(spec(kind, **rules), raw) == stored


def test_a_time_without_offset_is_read_in_the_writers_zone() -> None:
    moment = parse_value(spec("datetime"), "2025-04-01T10:00", time_zone="America/New_York")
    assert moment == "2025-04-01T14:00:00+00:00"


@pytest.mark.parametrize(
    ("kind", "raw", "rules", "english"),
    [
        ("text", "x" * 11, {"max_length": 10}, "Must be at most 10 characters."),
        ("text", "一行目\n二行目", {}, "Must be a single line."),
        ("text", ["a"], {}, "Must be text."),
        ("text", "ab12", {"pattern": "[A-Z]{2}[0-9]{4}"}, "Does not have the expected form."),
        ("long_text", "x" * 21, {"max_length": 20}, "Must be at most 20 characters."),
        ("integer", "12.5", {}, "Must be a whole number."),
        ("integer", "abc", {}, "Must be a whole number."),
        ("integer", True, {}, "Must be a whole number."),
        ("integer", 1949, {"minimum": 1950.0}, "Must be at least 1950."),
        ("integer", 2101, {"maximum": 2100}, "Must be at most 2100."),
        ("number", "1e5", {}, "Must be a number."),
        ("number", float("nan"), {}, "Must be a number."),
        ("number", 0.4, {"minimum": 0.5}, "Must be at least 0.5."),
        ("yen", "1200.5", {}, "Must be an amount in whole yen (e.g. 120000)."),
        ("yen", -1, {"minimum": 0}, "Must be at least 0."),
        ("date", "2025-02-30", {}, "Not a valid date (e.g. 2025-04-01 or 令和7年4月1日)."),
        ("date", "平成31年5月1日", {}, "Not a valid date (e.g. 2025-04-01 or 令和7年4月1日)."),
        ("date", 20250401, {}, "Not a valid date (e.g. 2025-04-01 or 令和7年4月1日)."),
        ("datetime", "tomorrow", {}, "Not a valid date and time (e.g. 2025-04-01T10:00+09:00)."),
        ("boolean", "maybe", {}, "Must be yes or no."),
        ("boolean", 2, {}, "Must be yes or no."),
        ("select", "5LDK", {"options": OPTIONS}, "Must be one of: 1K, 1LDK, 2LDK."),
        ("multi_select", ["1K", "5LDK"], {"options": OPTIONS}, "Must be one of: 1K, 1LDK, 2LDK."),
        ("multi_select", {"a": 1}, {"options": OPTIONS}, "Must be a list of choices."),
        ("phone", "123", {}, "Not a valid phone number."),
        ("phone", "03-1234-5678 内線12", {}, "Not a valid phone number."),
        ("email", "not-an-address", {}, "Not a valid e-mail address."),
        ("url", "javascript:alert(1)", {}, BAD_URL_EN),
        ("url", "ftp://example.jp/file", {}, BAD_URL_EN),
        ("url", "https://", {}, BAD_URL_EN),
        ("url", "https://exa mple.jp", {}, BAD_URL_EN),
        ("postal_code", "12345", {}, "Not a valid postal code (seven digits, e.g. 100-0001)."),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    kind: str, raw: Any, rules: dict[str, Any], english: str
) -> None:
    assert refused(kind, raw, **rules).render("en") == english


def test_messages_speak_japanese_to_japanese_users() -> None:
    assert refused("integer", 1949, minimum=1950).render("ja") == "1950以上で入力してください。"
    assert refused("phone", "123").render("ja") != "Not a valid phone number."
    assert "電話番号" in refused("phone", "123").render("ja")


def test_a_patterns_own_explanation_is_shown_in_the_users_language() -> None:
    message = refused(
        "text",
        "ab12",
        pattern="[A-Z]{2}[0-9]{4}",
        pattern_message={
            "ja": "英大文字2字と数字4桁で入力してください。",
            "en": "Two capitals, four digits.",
        },
    )
    assert message.render("ja") == "英大文字2字と数字4桁で入力してください。"
    assert message.render("en") == "Two capitals, four digits."


def test_a_pattern_is_matched_against_the_whole_value_and_ascii_only() -> None:
    code = spec("text", pattern="[0-9]{3}")
    assert parse_value(code, "123") == "123"
    with pytest.raises(BadValue):
        parse_value(code, "1234")
    digits = spec("text", pattern="\\d{3}")
    with pytest.raises(BadValue):
        parse_value(digits, "١٢٣")  # Arabic-Indic digits: not \d in the browser either


def test_datetimes_are_shown_in_local_time_in_inputs() -> None:
    stored = "2025-04-01T01:00:00+00:00"
    assert input_value("datetime", stored, "Asia/Tokyo") == "2025-04-01T10:00"
    assert input_value("date", "2025-04-01") == "2025-04-01"


# -- the pattern dialect -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "[A-Z]{2}[0-9]{4}",
        "\\d{3}-\\d{4}",
        "(?:ab)+c?",
        "[ぁ-ゖー]+",
        "[\\u30A1-\\u30FA]+",
        "[\\w.+\\-]+",
        "a|b|",
        "x{2,}",
        "[^a-z]",
    ],
)
def test_patterns_both_python_and_browsers_read_are_accepted(pattern: str) -> None:
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "[a-z-]",  # a bare - in a class: an error with the browser's v flag
        "[(]",
        "[..]",
        "a{",
        "a{,3}",
        "(?i)abc",
        "(?P<year>\\d{4})",
        "(?=a)b",
        "\\1",
        "\\-",
        "]",
        "[",
        "(a",
        "a**",
        "[z-a]",
        "[]",
        "x" * 201,
    ],
)
def test_patterns_outside_the_shared_dialect_are_refused(pattern: str) -> None:
    with pytest.raises(BadValue):
        check_pattern(pattern)


# -- all values of a record at once ------------------------------------------------------------

CAR = {
    "car_model": Spec("car_model", "text", required=True, max_length=100),
    "model_year": Spec("model_year", "integer", required=True, minimum=1950, maximum=2100),
    "inspection_date": Spec("inspection_date", "date", required=True),
    "mileage_km": Spec("mileage_km", "integer", minimum=0),
    "rank": Spec("rank", "select", options=("a", "b"), default="a"),
    "legacy_code": Spec("legacy_code", "text", active=False),
}


def test_on_create_defaults_fill_in_and_values_are_normalised() -> None:
    values = clean_values(
        CAR,
        {"car_model": "プリウス", "model_year": "2019", "inspection_date": "R8.3.31"},
        current=None,
    )
    assert values == {
        "car_model": "プリウス",
        "model_year": 2019,
        "inspection_date": "2026-03-31",
        "rank": "a",
    }


def test_every_bad_key_is_named_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean_values(
            CAR,
            {"model_year": 1900, "mileage_km": -1, "colour": "赤", "rank": "z"},
            current=None,
        )
    errors = messages(caught.value.errors, "en")
    assert errors == {
        "fields.model_year": ["Must be at least 1950."],
        "fields.mileage_km": ["Must be at least 0."],
        "fields.colour": ["Unknown field."],
        "fields.rank": ["Must be one of: a, b."],
        "fields.car_model": ["This field is required."],
        "fields.inspection_date": ["This field is required."],
    }
    assert messages(caught.value.errors, "ja")["fields.car_model"] == ["この項目は必須です。"]


def test_an_empty_required_value_counts_as_missing() -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean_values(
            CAR,
            {"car_model": "  ", "model_year": None, "inspection_date": ""},
            current=None,
        )
    assert set(caught.value.errors) == {
        "fields.car_model",
        "fields.model_year",
        "fields.inspection_date",
    }


def test_an_update_touches_only_the_keys_given_and_none_removes_one() -> None:
    current = {"car_model": "プリウス", "model_year": 2019, "mileage_km": 30000}
    values = clean_values(CAR, {"mileage_km": None, "rank": "b"}, current=current)
    assert values == {"mileage_km": None, "rank": "b"}


def test_an_update_may_not_clear_a_required_value() -> None:
    current = {"car_model": "プリウス", "model_year": 2019, "inspection_date": "2026-03-31"}
    with pytest.raises(ValidationFailed) as caught:
        clean_values(CAR, {"car_model": "", "model_year": None}, current=current)
    assert messages(caught.value.errors, "en") == {
        "fields.car_model": ["This field is required."],
        "fields.model_year": ["This field is required."],
    }


def test_a_retired_field_keeps_its_value_but_refuses_a_new_one() -> None:
    current = {"car_model": "プリウス", "legacy_code": "A-1"}
    assert clean_values(CAR, {"legacy_code": "A-1", "rank": "a"}, current=current) == {"rank": "a"}
    with pytest.raises(ValidationFailed) as changed:
        clean_values(CAR, {"legacy_code": "B-2"}, current=current)
    with pytest.raises(ValidationFailed) as cleared:
        clean_values(CAR, {"legacy_code": None}, current=current)
    for caught in (changed, cleared):
        assert messages(caught.value.errors, "en") == {
            "fields.legacy_code": ["This field is no longer in use; its value cannot be changed."]
        }


def test_a_retired_field_is_neither_required_nor_defaulted() -> None:
    specs = {"old": Spec("old", "text", required=True, default="x", active=False)}
    assert clean_values(specs, {}, current=None) == {}


def test_a_form_decides_which_fields_are_required() -> None:
    specs = {
        "test_drive": Spec("test_drive", "boolean"),
        "budget": Spec("budget", "yen", required=True),
    }
    with pytest.raises(ValidationFailed) as caught:
        clean_values(specs, {}, current=None, required={"test_drive"})
    assert set(caught.value.errors) == {"fields.test_drive"}
    assert clean_values(specs, {"test_drive": "false"}, current=None, required={"test_drive"}) == {
        "test_drive": False
    }


@pytest.mark.parametrize("raw", [["a"], "text", 3])
def test_fields_must_be_an_object(raw: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean_values(CAR, raw, current={})
    assert messages(caught.value.errors, "en") == {"fields": ["Must be an object."]}


def test_no_fields_at_all_is_an_empty_change() -> None:
    assert clean_values(CAR, None, current={"car_model": "x"}) == {}


# -- definitions and templates ----------------------------------------------------------------


def test_every_template_field_passes_the_definition_checks() -> None:
    for template in TEMPLATES.values():
        for field in template["fields"]:
            state, _sent = check_definition(field, None)
            assert state["key"] == field["key"]


def test_a_definitions_default_is_stored_normalised() -> None:
    state, _sent = check_definition(
        {
            "entity": "account",
            "key": "since",
            "type": "date",
            "label": {"ja": "取引開始日", "en": "Customer since"},
            "default": "令和元年5月1日",
        },
        None,
    )
    assert state["default"] == "2019-05-01"
