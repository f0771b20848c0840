"""The input macro: each type of field becomes an input the browser checks by the same rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as data_field
from html.parser import HTMLParser
from typing import Any

import pytest

from server.fields.types import check_pattern
from server.web.templating import make_environment

SOURCE = (
    '{% from "fields/_inputs.html" import field_input %}'
    "{{ field_input(definition, value, locale, errors) }}"
)


VOID = frozenset({"input", "br", "hr", "img", "meta", "link"})


@dataclass
class Element:
    """Just enough of a DOM to read what the macro rendered."""

    name: str
    attrs: dict[str, str | None]
    children: list[Element | str] = data_field(default_factory=list)

    def __getitem__(self, name: str) -> str:
        value = self.attrs[name]
        assert value is not None
        return value

    def has_attr(self, name: str) -> bool:
        return name in self.attrs

    def get_text(self, *, strip: bool = False) -> str:
        parts = [c if isinstance(c, str) else c.get_text() for c in self.children]
        return "".join(p.strip() for p in parts) if strip else "".join(parts)

    def walk(self) -> list[Element]:
        found = []
        for child in self.children:
            if isinstance(child, Element):
                found += [child, *child.walk()]
        return found

    def __call__(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.walk()
            if e.name == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Element | None:
        for element in self.walk():
            if (tag is None or element.name == tag) and all(
                element.attrs.get(k.rstrip("_")) == v for k, v in attrs.items()
            ):
                return element
        return None


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("root", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.open[-1].children.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1].name == tag, f"</{tag}> closes <{self.open[-1].name}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].children.append(data)


def field(kind: str, key: str = "f", **parts: Any) -> dict[str, Any]:
    return {
        "entity": "account",
        "key": key,
        "type": kind,
        "label": {"ja": "項目", "en": "Item"},
        "required": False,
        **parts,
    }


def render(
    definition: dict[str, Any], value: Any = None, locale: str = "ja", errors: Any = None
) -> Element:
    html = (
        make_environment()
        .from_string(SOURCE)
        .render(definition=definition, value=value, locale=locale, errors=errors)
    )
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.open == [builder.root], "unclosed elements"
    return builder.root


def control(soup: Element, key: str = "f") -> Element:
    found = soup.find(id=f"field-account-{key}")
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("kind", "attrs"),
    [
        ("text", {"type": "text", "maxlength": "1000"}),
        ("integer", {"type": "number", "step": "1", "inputmode": "numeric"}),
        ("yen", {"type": "number", "step": "1", "inputmode": "numeric"}),
        ("number", {"type": "number", "step": "any", "inputmode": "decimal"}),
        ("date", {"type": "date"}),
        ("datetime", {"type": "datetime-local"}),
        ("boolean", {"type": "checkbox", "value": "true"}),
        ("phone", {"type": "tel", "inputmode": "tel"}),
        ("email", {"type": "email", "inputmode": "email"}),
        ("url", {"type": "url", "inputmode": "url"}),
        ("postal_code", {"type": "text", "inputmode": "numeric", "autocomplete": "postal-code"}),
    ],
)
def test_each_type_gets_its_input_type_and_keyboard(kind: str, attrs: dict[str, str]) -> None:
    element = control(render(field(kind)))
    assert element.name == "input"
    assert element["name"] == "fields.f"
    for name, expected in attrs.items():
        assert element[name] == expected, name


def test_a_number_field_carries_its_range_and_requirement() -> None:
    soup = render(field("integer", key="model_year", required=True, min=1950, max=2100))
    element = control(soup, "model_year")
    assert (element["min"], element["max"], element["step"]) == ("1950", "2100", "1")
    assert element.has_attr("required")
    label = soup.find("label", for_="field-account-model_year")
    assert label is not None
    assert label.get_text() == "項目*"


def test_an_optional_field_is_not_required() -> None:
    assert not control(render(field("integer"))).has_attr("required")


def test_text_carries_max_length_pattern_and_its_explanation() -> None:
    definition = field(
        "text",
        max_length=6,
        pattern="[A-Z]{2}[0-9]{4}",
        pattern_message={"ja": "英大文字2字と数字4桁", "en": "Two capitals and four digits"},
    )
    element = control(render(definition, "AB1234"))
    assert element["maxlength"] == "6"
    assert element["pattern"] == "[A-Z]{2}[0-9]{4}"
    assert element["title"] == "英大文字2字と数字4桁"
    assert element["value"] == "AB1234"
    assert control(render(definition, locale="en"))["title"] == "Two capitals and four digits"


def test_the_postal_code_pattern_is_one_the_server_accepts_and_that_fits_its_input() -> None:
    pattern = str(control(render(field("postal_code")))["pattern"])
    assert check_pattern(pattern) == pattern
    for typed in ("100-0001", "1000001", "〒100-0001", "１００－０００１"):
        assert re.fullmatch(pattern, typed, re.ASCII), typed
    assert not re.fullmatch(pattern, "12345", re.ASCII)


def test_long_text_is_a_textarea_with_its_limit() -> None:
    element = control(render(field("long_text", max_length=500), "一行目\n二行目"))
    assert element.name == "textarea"
    assert element["maxlength"] == "500"
    assert element.get_text() == "一行目\n二行目"


def test_a_select_offers_the_options_in_the_users_language() -> None:
    options = [
        {"value": "regular", "label": {"ja": "一般", "en": "Regular"}},
        {"value": "gold", "label": {"ja": "ゴールド", "en": "Gold"}},
    ]
    soup = render(field("select", required=True, options=options), "gold")
    element = control(soup)
    assert element.name == "select"
    assert element.has_attr("required")
    assert not element.has_attr("multiple")
    choices = [(o["value"], o.get_text(), o.has_attr("selected")) for o in element("option")]
    assert choices == [
        ("", "選択してください", False),
        ("regular", "一般", False),
        ("gold", "ゴールド", True),
    ]
    english = control(render(field("select", options=options), None, "en"))
    assert [o.get_text() for o in english("option")] == ["Choose…", "Regular", "Gold"]


def test_a_multi_select_allows_several_choices() -> None:
    options = [{"value": v, "label": {"ja": v, "en": v}} for v in ("1K", "1LDK", "2LDK")]
    element = control(render(field("multi_select", options=options), ["1K", "2LDK"]))
    assert element.name == "select"
    assert element.has_attr("multiple")
    assert [o["value"] for o in element("option") if o.has_attr("selected")] == ["1K", "2LDK"]


def test_a_yes_no_field_always_sends_an_answer() -> None:
    soup = render(field("boolean"), True)
    inputs = soup("input", name="fields.f")
    assert [(i["type"], i["value"]) for i in inputs] == [("hidden", "false"), ("checkbox", "true")]
    assert inputs[1].has_attr("checked")
    assert not control(render(field("boolean"), False)).has_attr("checked")


def test_values_fill_the_inputs() -> None:
    assert control(render(field("date"), "2025-04-01"))["value"] == "2025-04-01"
    assert control(render(field("datetime"), "2025-04-01T10:00"))["value"] == "2025-04-01T10:00"
    assert control(render(field("yen"), 120000))["value"] == "120000"
    assert not control(render(field("text"), None)).has_attr("value")


def test_help_and_errors_are_tied_to_the_input() -> None:
    definition = field("integer", help={"ja": "西暦で入力", "en": "Western year"})
    soup = render(definition, 1900, errors={"fields.f": ["1950以上で入力してください。"]})
    element = control(soup)
    assert element["aria-invalid"] == "true"
    assert element["aria-describedby"] == "field-account-f-help field-account-f-error"
    help_text = soup.find(id="field-account-f-help")
    error = soup.find(id="field-account-f-error")
    assert help_text is not None
    assert error is not None
    assert help_text.get_text() == "西暦で入力"
    assert error.get_text(strip=True) == "1950以上で入力してください。"


def test_errors_may_be_given_as_the_fields_own_list() -> None:
    element = control(render(field("text"), errors=["Must be text."]))
    assert element["aria-invalid"] == "true"


def test_a_field_without_help_or_errors_has_no_description() -> None:
    element = control(render(field("text")))
    assert not element.has_attr("aria-describedby")
    assert not element.has_attr("aria-invalid")


def test_labels_and_values_are_escaped_and_no_inline_script_or_style() -> None:
    definition = field("text", label={"ja": "<b>名前</b>", "en": "x"})
    soup = render(definition, '"><script>alert(1)</script>')
    assert soup.find("script") is None
    assert soup.find("b") is None
    assert not any(e.has_attr("style") for e in soup.walk())
    assert control(soup)["value"] == '"><script>alert(1)</script>'
