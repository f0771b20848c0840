"""Reading uploaded ledgers: encodings, delimiters, workbooks, headers, repairs and refusals.

The samples in tests/data are described in tests/data/import_samples.py, which writes them.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time
from pathlib import Path

import pytest
import xlsxwriter
import xlwt

from server.i18n import Text
from server.imports.headers import KNOWN_HEADER_WORDS, Target, builtin_targets, suggest
from server.imports.reader import MAX_ROWS, Table, UnreadableFile, open_table
from server.imports.repair import (
    repair_date,
    repair_digits,
    repair_phone,
    repair_postal_code,
    strip_formula,
)
from server.normalize import (
    lookup_postal_code,
    parse_email,
    parse_phone,
    parse_postal_code,
    parse_reading,
)
from tests.data import import_samples as samples

DATA = Path(__file__).parent / "data"
LEDGER_CSV = (DATA / samples.CSV_NAME).read_bytes()
LEDGER_XLSX = (DATA / samples.XLSX_NAME).read_bytes()
# The first demo account (seed 1) is 有限会社本田商事 with this phone.
DEMO_FIRST_ACCOUNT_PHONE = "+81825903548"


def _refusal(data: bytes, filename: str, *, sheet: str | None = None) -> str:
    with pytest.raises(UnreadableFile) as refused:
        open_table(data, filename, sheet=sheet)
    return str(refused.value.message)


def _cells(table: Table) -> list[list[str]]:
    return [row.cells for row in table.rows()]


def _notes(table: Table) -> list[str]:
    return [str(note) for note in table.notes]


def _xlsx(sheets: dict[str, list[list[object]]], *, hidden: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    # A date is a number with a date format in Excel; without one it reads as the number.
    dated = book.add_format({"num_format": "yyyy/mm/dd hh:mm:ss"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, date | time):
                    sheet.write_datetime(r, c, value, dated)
                elif value is not None:
                    sheet.write(r, c, value)
        if name in hidden:
            sheet.hide()
    book.close()
    return buffer.getvalue()


# -- encodings and delimiters ---------------------------------------------------------------

LEDGER_TEXT = (
    "顧客名,フリガナ,備考\r\n"
    "株式会社髙橋工務店,ﾀｶﾊｼｺｳﾑﾃﾝ,①定期点検\r\n"
    "㈱山田商店,やまだしょうてん,\r\n"
)


@pytest.mark.parametrize(
    ("data", "encoding", "shown"),
    [
        (LEDGER_TEXT.encode("utf-8"), "utf-8", None),
        (LEDGER_TEXT.encode("utf-8-sig"), "utf-8-sig", None),
        (LEDGER_TEXT.encode("cp932"), "cp932", "The text was read as Shift_JIS."),
        (LEDGER_TEXT.encode("utf-16"), "utf-16", "The text was read as UTF-16."),
    ],
    ids=["utf-8", "utf-8 with BOM", "Shift_JIS with NEC and IBM characters", "UTF-16"],
)
def test_each_encoding_is_detected_and_read(data: bytes, encoding: str, shown: str | None) -> None:
    table = open_table(data, "顧客.csv")

    assert table.encoding == encoding
    assert table.headers == ["顧客名", "フリガナ", "備考"]  # no BOM stuck to the first name
    assert _cells(table) == [
        ["株式会社髙橋工務店", "ﾀｶﾊｼｺｳﾑﾃﾝ", "①定期点検"],
        ["㈱山田商店", "やまだしょうてん", ""],
    ]
    assert (shown in _notes(table)) if shown else not _notes(table)


def test_euc_jp_is_told_from_shift_jis() -> None:
    text = (
        "顧客名,住所\n株式会社高橋工務店,東京都千代田区丸の内1丁目\n山田商店,大阪府大阪市北区梅田\n"
    )

    table = open_table(text.encode("euc_jp"), "old.csv")

    assert table.encoding == "euc_jp"
    assert _cells(table)[0] == ["株式会社高橋工務店", "東京都千代田区丸の内1丁目"]
    assert "The text was read as EUC-JP." in _notes(table)


def test_text_in_no_japanese_encoding_is_refused() -> None:
    # 0x81 followed by a space is a broken character in UTF-8, Shift_JIS and EUC-JP alike.
    data = "顧客名,電話\n".encode("cp932") + b"\x81 \x81 ,03\n"

    message = _refusal(data, "broken.csv")

    assert message == "The file's characters could not be read as UTF-8, Shift_JIS or EUC-JP."


def test_a_tsv_file_is_split_on_tabs() -> None:
    table = open_table("顧客名\t電話\n山田商店, 本店\t03-1234-5678\n".encode(), "list.tsv")

    assert (table.kind, table.delimiter) == ("tsv", "\t")
    assert _cells(table) == [["山田商店, 本店", "03-1234-5678"]]


def test_tabs_and_semicolons_are_sniffed() -> None:
    tabbed = open_table("顧客名\t電話\t備考\nA\t1\tx\nB\t2\ty\n".encode(), "export.txt")
    semicolons = open_table(
        b"name;phone;notes\nYamada;0312345678;a,b\nSato;0312345679;c\n", "x.csv"
    )

    assert (tabbed.kind, tabbed.delimiter) == ("tsv", "\t")
    assert _cells(tabbed) == [["A", "1", "x"], ["B", "2", "y"]]
    assert (semicolons.kind, semicolons.delimiter) == ("csv", ";")
    assert _cells(semicolons)[0] == ["Yamada", "0312345678", "a,b"]


def test_a_quoted_cell_keeps_its_line_break_and_rows_keep_excel_numbers() -> None:
    data = '顧客名,備考\r\n井上書店,"①月末締め\r\n②翌月払い"\r\n林フーズ,"a, b"\r\n'.encode("cp932")

    rows = list(open_table(data, "notes.csv").rows())

    assert [(row.number, row.cells) for row in rows] == [
        (2, ["井上書店", "①月末締め\n②翌月払い"]),
        (3, ["林フーズ", "a, b"]),
    ]


# -- the sample ledger (CSV) ----------------------------------------------------------------


def test_the_sample_csv_skips_its_title_and_drops_what_excel_added() -> None:
    table = open_table(LEDGER_CSV, samples.CSV_NAME)

    assert (table.kind, table.encoding, table.delimiter) == ("csv", "cp932", ",")
    assert table.header_row == samples.CSV_HEADER_ROW == 3
    assert table.headers == samples.CSV_HEADER
    assert table.row_count == len(samples.CSV_ROWS) == 30
    assert _notes(table) == [
        "The text was read as Shift_JIS.",
        "The header is on row 3; the rows above it were skipped.",
        "Empty columns at the right were dropped: 2.",
        "Empty rows were skipped: 3.",
    ]
    rows = list(table.rows())
    assert [row.number for row in rows] == list(range(4, 34))
    assert [row.cells for row in rows] == samples.CSV_ROWS
    assert rows[0].cells[:3] == ["C0001", "株式会社髙橋工務店", "ｶﾌﾞｼｷｶﾞｲｼｬ ﾀｶﾊｼｺｳﾑﾃﾝ"]
    # The damage the samples' docstring lists, where it says.
    by_number = {row.number: row.cells for row in rows}
    postal_codes = [by_number[n][3] for n in (4, 6, 20, 27)]
    assert postal_codes == ["600001", "〒１５０－０００２", "10010", "400001"]
    assert [by_number[n][5] for n in (4, 5, 6, 7, 9, 23)] == [
        "112515678", "9012345678", "０３－３４０９－１２３４", '="0662345678"', '="0222123456"',
        "９０８７６５４３２１",
    ]  # fmt: skip
    assert by_number[4][6] == '="0112515679"'
    assert by_number[22][-1] == "①月末締め\n②翌月払い"


def test_rows_can_be_read_again() -> None:
    table = open_table(LEDGER_CSV, samples.CSV_NAME)

    first = next(table.rows())

    assert first.number == 4
    assert list(table.rows()) == list(table.rows())


def test_the_sample_csv_fails_and_duplicates_where_its_docstring_says() -> None:
    rows = {row.number: row.cells for row in open_table(LEDGER_CSV, samples.CSV_NAME).rows()}
    bad_email, bad_reading, phones = [], [], {}
    for number, cells in rows.items():
        postal, _ = repair_postal_code(strip_formula(cells[3])[0])
        phone, _ = repair_phone(strip_formula(cells[5])[0])
        assert lookup_postal_code(postal) is not None, number
        assert parse_postal_code(postal) is not None, number
        phones[number] = parse_phone(phone)
        assert phones[number] is not None, number
        if cells[7] and parse_email(cells[7]) is None:
            bad_email.append(number)
        if parse_reading(cells[2]) is None:
            bad_reading.append(number)
        if cells[9]:  # 車検日 in every spelling becomes an ISO date
            assert date.fromisoformat(repair_date(cells[9])[0]).year >= 2019, number

    assert bad_email == [samples.CSV_INVALID_EMAIL_ROW]
    assert bad_reading == [samples.CSV_KANJI_READING_ROW]
    first, second = samples.CSV_SAME_PHONE_ROWS
    assert phones[first] == phones[second]
    assert list(phones.values()).count(phones[first]) == 2
    assert phones[samples.CSV_DEMO_DUPLICATE_ROW] == DEMO_FIRST_ACCOUNT_PHONE


def test_the_samples_are_what_the_script_writes(tmp_path: Path) -> None:
    csv_path, xlsx_path = samples.write_samples(tmp_path)

    assert csv_path.read_bytes() == LEDGER_CSV
    assert xlsx_path.read_bytes() == LEDGER_XLSX


# -- workbooks ------------------------------------------------------------------------------


def test_the_sample_workbook_merges_its_two_row_header_and_reads_typed_cells() -> None:
    table = open_table(LEDGER_XLSX, samples.XLSX_NAME)

    assert (table.kind, table.encoding, table.delimiter) == ("xlsx", None, None)
    assert table.sheets == ["顧客台帳", "購入履歴"]  # the hidden マスタ is not offered
    assert table.sheet == "顧客台帳"
    assert table.header_row == 3
    assert table.headers == [
        "顧客コード", "顧客名", "フリガナ", "住所 郵便番号", "住所 都道府県", "住所 市区町村",
        "住所 番地", "電話", "携帯", "メール", "担当者", "車検日", "累計金額", "DM可", "連絡時間",
        "備考",
    ]  # fmt: skip
    assert _notes(table) == [
        "The header is on row 3; the rows above it were skipped.",
        "A two-row header (rows 3 and 4) was merged into one.",
    ]
    rows = list(table.rows())
    assert [row.number for row in rows] == list(range(5, 17))
    assert rows[0].cells == [
        "K001", "株式会社髙橋工務店", "タカハシコウムテン", "600001", "北海道", "札幌市中央区",
        "北一条西3丁目2-1", "112515678", "", "info@takahashi-koumuten.example.jp",
        "rep1@example.com", "2024-04-01", "1250000", "TRUE", "10:30", "①定期点検",
    ]  # fmt: skip
    # A mobile stored as a number, a tax-inclusive total with binary noise, a FALSE.
    assert rows[1].cells[8] == "9012345678"
    assert rows[1].cells[12:15] == ["98010", "FALSE", "18:00"]
    assert rows[8].cells[3] == "10010"  # 001-0010 lost two zeros


def test_another_sheet_is_read_when_asked_for() -> None:
    table = open_table(LEDGER_XLSX, samples.XLSX_NAME, sheet="購入履歴")

    assert (table.sheet, table.header_row, table.row_count) == ("購入履歴", 1, 10)
    assert table.headers == samples.PURCHASE_HEADER
    assert table.notes == []
    cells = _cells(table)
    assert cells[0] == ["K001", "2023-04-12", "法定点検パック", "1", "48000", "札幌本店"]
    assert cells[6][3] == "4.5"


def test_the_first_visible_sheet_with_data_is_read_by_default() -> None:
    data = _xlsx(
        {
            "表紙": [],
            "設定": [["担当者", "メール"], ["高橋 翔太", "rep1@example.com"]],
            "顧客": [["顧客名", "電話"], ["山田商店", "03-1234-5678"]],
        },
        hidden=("設定",),
    )

    table = open_table(data, "book.xlsx")

    assert table.sheets == ["表紙", "顧客"]
    assert table.sheet == "顧客"
    assert _cells(table) == [["山田商店", "03-1234-5678"]]


def test_sheets_that_are_missing_or_empty_are_named_in_the_refusal() -> None:
    data = _xlsx({"表紙": [], "顧客": [["顧客名"], ["山田商店"]]})
    empty = _xlsx({"Sheet1": [], "Sheet2": []})

    assert _refusal(data, "book.xlsx", sheet="売上") == "The workbook has no sheet named “売上”."
    assert _refusal(data, "book.xlsx", sheet="表紙") == "The sheet “表紙” is empty."
    assert _refusal(empty, "book.xlsx") == "Every sheet of the workbook is empty."


def test_cells_of_every_type_become_text() -> None:
    data = _xlsx(
        {
            "顧客": [
                ["顧客名", "電話", "金額", "比率", "日付", "日時", "時刻", "DM可"],
                ["山田商店", 9012345678, 12000, 0.1 + 0.2, date(2024, 4, 1),
                 datetime(2024, 4, 1, 10, 30), time(10, 30), True],
                ["佐藤商店", 312345678, -1500.25, 1e-7, datetime(2024, 4, 1),
                 datetime(2024, 4, 1, 0, 0, 1), time(9, 5, 30), False],
            ]
        }
    )  # fmt: skip

    assert _cells(open_table(data, "types.xlsx")) == [
        ["山田商店", "9012345678", "12000", "0.3", "2024-04-01", "2024-04-01T10:30:00", "10:30",
         "TRUE"],
        ["佐藤商店", "312345678", "-1500.25", "0.0000001", "2024-04-01", "2024-04-01T00:00:01",
         "09:05:30", "FALSE"],
    ]  # fmt: skip


def test_an_xls_workbook_is_read(tmp_path: Path) -> None:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("顧客一覧")
    sheet.write_merge(0, 0, 0, 2, "顧客一覧 2024年3月現在")
    for column, name in enumerate(["顧客名", "電話", "登録日"]):
        sheet.write(2, column, name)
    sheet.write(3, 0, "株式会社髙橋工務店")
    sheet.write(3, 1, 9012345678)
    sheet.write(3, 2, date(2024, 4, 1), xlwt.easyxf(num_format_str="yyyy/mm/dd"))
    path = tmp_path / "顧客一覧.xls"
    book.save(str(path))

    table = open_table(path.read_bytes(), path.name)

    assert (table.kind, table.sheet, table.header_row) == ("xls", "顧客一覧", 3)
    assert table.headers == ["顧客名", "電話", "登録日"]
    assert [(row.number, row.cells) for row in table.rows()] == [
        (4, ["株式会社髙橋工務店", "9012345678", "2024-04-01"])
    ]


# A minimal spreadsheet as LibreOffice writes one: no whitespace between the elements.
ODS_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<office:document-content office:version="1.2"'
    ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
    ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
    '<office:body><office:spreadsheet><table:table table:name="顧客">'
    "<table:table-row>"
    '<table:table-cell office:value-type="string"><text:p>顧客名</text:p></table:table-cell>'
    '<table:table-cell office:value-type="string"><text:p>電話</text:p></table:table-cell>'
    "</table:table-row><table:table-row>"
    '<table:table-cell office:value-type="string"><text:p>山田商店</text:p></table:table-cell>'
    '<table:table-cell office:value-type="float" office:value="312345678"/>'
    "</table:table-row>"
    "</table:table></office:spreadsheet></office:body></office:document-content>"
)
ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest manifest:version="1.2"'
    ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
    '<manifest:file-entry manifest:full-path="/"'
    ' manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def test_an_ods_workbook_is_read() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", ODS_MANIFEST)
        archive.writestr("content.xml", ODS_CONTENT)

    table = open_table(buffer.getvalue(), "顧客.ods")

    assert (table.kind, table.sheets, table.headers) == ("ods", ["顧客"], ["顧客名", "電話"])
    assert _cells(table) == [["山田商店", "312345678"]]


def test_a_file_is_read_as_what_it_holds_whatever_its_name() -> None:
    workbook = open_table(_xlsx({"顧客": [["顧客名"], ["山田商店"]]}), "顧客.csv")
    text = open_table("顧客名\n山田商店\n".encode(), "顧客.xlsx")

    assert workbook.kind == "xlsx"
    assert _notes(workbook) == [
        "The file is named “顧客.csv” but is a workbook; it was read as one."
    ]
    assert text.kind == "csv"
    assert _notes(text) == ["The file is named “顧客.xlsx” but holds text; it was read as CSV."]
    assert _cells(workbook) == _cells(text) == [["山田商店"]]


# -- headers --------------------------------------------------------------------------------


def test_title_rows_above_an_english_header_are_skipped() -> None:
    data = (
        b"Customer list,,\r\nas of 2024-03-31,,\r\n,,\r\nName,Phone,Email\r\nYamada,03,a@b.jp\r\n"
    )

    table = open_table(data, "list.csv")

    assert (table.header_row, table.headers) == (4, ["Name", "Phone", "Email"])
    assert _cells(table) == [["Yamada", "03", "a@b.jp"]]


def test_a_header_without_known_words_is_the_first_row_of_labels() -> None:
    data = "社内資料\n\n区画,面積,所見\nA-1,120,良好\nB-2,80,要確認\n".encode()

    table = open_table(data, "plots.csv")

    assert (table.header_row, table.headers) == (3, ["区画", "面積", "所見"])
    assert table.row_count == 2


def test_a_two_row_header_in_a_csv_is_merged() -> None:
    data = (
        "顧客名,住所,,,電話\n"
        ",郵便番号,都道府県,市区町村,\n"
        "山田商店,1000001,東京都,千代田区,03-1234-5678\n"
    ).encode("cp932")

    table = open_table(data, "two-rows.csv")

    assert table.headers == ["顧客名", "住所 郵便番号", "住所 都道府県", "住所 市区町村", "電話"]
    assert [row.number for row in table.rows()] == [3]
    assert "A two-row header (rows 1 and 2) was merged into one." in _notes(table)


@pytest.mark.parametrize(
    "second_row",
    [
        "山田商店,高橋 翔太,",  # a data row of text under a full header
        ",郵便番号,03-1234-5678",  # a value in it
        "山田商店,,メモ",  # text under a header cell that starts no group
    ],
)
def test_a_data_row_under_the_header_is_not_taken_for_a_second_header_row(
    second_row: str,
) -> None:
    data = f"顧客名,担当者,\n{second_row}\n佐藤商店,田中 彩,\n".encode()

    table = open_table(data, "one-row.csv")

    assert table.headers[:2] == ["顧客名", "担当者"]
    assert [row.number for row in table.rows()] == [2, 3]


def test_unnamed_and_repeated_columns_get_names() -> None:
    data = "顧客名,,電話,電話\n山田商店,本店,03-1234-5678,03-1234-5679,追記\n".encode()

    table = open_table(data, "names.csv")

    assert table.headers == ["顧客名", "列2", "電話", "電話 (2)", "列5"]
    assert "Columns without a header were named: 列2, 列5." in _notes(table)
    assert "Repeated column names were numbered: 電話 (2)." in _notes(table)
    assert _cells(table) == [["山田商店", "本店", "03-1234-5678", "03-1234-5679", "追記"]]


def test_short_rows_are_padded_and_empty_rows_skipped() -> None:
    data = "顧客名,電話,備考\n山田商店\n\n,,\n佐藤商店,03-1234-5678\n".encode()

    table = open_table(data, "short.csv")

    assert [(row.number, row.cells) for row in table.rows()] == [
        (2, ["山田商店", "", ""]),
        (5, ["佐藤商店", "03-1234-5678", ""]),
    ]
    assert "Empty rows were skipped: 2." in _notes(table)


# -- files that cannot be imported ----------------------------------------------------------


def test_files_that_are_not_tables_are_refused_each_with_its_reason() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    random_bytes = bytes((i * 7919 + 13) % 256 for i in range(4096))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("顧客.csv", "顧客名\n山田商店\n")
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as zipped:
        zipped.writestr("[Content_Types].xml", "<Types")
        zipped.writestr("xl/workbook.xml", "<workbook")

    assert _refusal(random_bytes, "顧客.xlsx") == "This file is not a CSV, TSV or Excel workbook."
    assert _refusal(png, "顧客.csv") == "This file is not a CSV, TSV or Excel workbook."
    assert (
        _refusal(random_bytes, "顧客.csv")
        == "The file holds binary data, not text, so it cannot be read as CSV."
    )
    assert (
        _refusal(archive.getvalue(), "顧客.zip")
        == "This is a zip archive, not a workbook: unpack it and upload the CSV or Excel file "
        "inside."
    )
    assert (
        _refusal(damaged.getvalue(), "顧客.xlsx")
        == "The workbook is damaged or protected with a password."
    )
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random_bytes
    assert _refusal(ole, "顧客.xls") == "The workbook is damaged or protected with a password."


def test_empty_files_and_files_without_data_are_refused() -> None:
    assert _refusal(b"", "empty.csv") == "The file is empty."
    assert _refusal(b"\r\n,,,\r\n\r\n", "blank.csv") == "The file is empty."
    assert (
        _refusal("顧客名,電話\r\n,,\r\n".encode("cp932"), "header.csv")
        == "The file has a header row but no data rows."
    )
    assert (
        _refusal(_xlsx({"顧客": [["顧客名", "電話"]]}), "header.xlsx")
        == "The file has a header row but no data rows."
    )


def test_a_file_over_50_mb_is_refused_before_it_is_read() -> None:
    assert _refusal(b"a" * (60 * 1024 * 1024), "big.csv") == "The file is larger than 50 MB."


def _zip_of_zeros(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(chunk)
    return buffer.getvalue()


def test_a_zip_bomb_named_xlsx_is_refused_unopened() -> None:
    bomb = _zip_of_zeros(420)
    tight = _zip_of_zeros(64)

    assert len(bomb) < 5 * 1024 * 1024
    assert (
        _refusal(bomb, "顧客.xlsx")
        == "The workbook unpacks to more than 400 MB, more than can be imported."
    )
    assert (
        _refusal(tight, "顧客.xlsx") == "Part of the workbook unpacks to more than 100 times its "
        "packed size, as a zip bomb does; it was not opened."
    )


def test_a_row_with_10000_columns_is_refused() -> None:
    data = b"name,phone\n" + b",".join([b"x"] * 10_000) + b"\n"

    assert _refusal(data, "wide.csv") == "Row 2 has 10,000 columns; at most 200 can be read."


def test_a_row_with_many_empty_columns_is_read() -> None:
    data = b"name,phone" + b"," * 10_000 + b"\nYamada,0312345678" + b"," * 10_000 + b"\n"

    table = open_table(data, "commas.csv")

    assert _cells(table) == [["Yamada", "0312345678"]]
    assert "Empty columns at the right were dropped: 10000." in _notes(table)


@pytest.mark.parametrize("size", [40_000, 1024 * 1024])
def test_a_cell_longer_than_excel_allows_is_refused(size: int) -> None:
    data = b'name,notes\nYamada,"' + b"x" * size + b'"\n'

    assert _refusal(data, "long.csv") == "A cell in row 2 holds more than 32,767 characters."


def test_more_than_200000_rows_are_refused() -> None:
    data = b"name,phone\n" + b"a,1\n" * (MAX_ROWS + 1)

    assert _refusal(data, "many.csv") == "The file has more than 200,000 rows."


def test_exactly_200000_rows_are_read() -> None:
    data = b"name,phone\n" + b"a,1\n" * MAX_ROWS

    assert open_table(data, "many.csv").row_count == MAX_ROWS


def test_a_flood_of_blank_lines_is_refused() -> None:
    data = b"name,phone\n" + b"\n" * (2 * MAX_ROWS) + b"a,1\n"

    assert _refusal(data, "blank-lines.csv") == "The file has more than 200,000 rows."


def test_refusals_are_translatable_messages() -> None:
    with pytest.raises(UnreadableFile) as refused:
        open_table(b"name\n" + b",".join([b"x"] * 300), "wide.csv")

    assert refused.value.message == Text(
        "Row {row} has {count:,} columns; at most {max} can be read.",
        {"row": 2, "count": 300, "max": 200},
    )


# -- repairs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "repair"),
    [
        ('="0312345678"', "0312345678", "formula text removed"),
        ("=0312345678", "0312345678", "formula text removed"),
        ('="03-1234-5678"', "03-1234-5678", "formula text removed"),
        ('="株式会社山田製作所"', "株式会社山田製作所", "formula text removed"),
        (
            "=VLOOKUP(A2,顧客!A:B,2,FALSE)",
            "=VLOOKUP(A2,顧客!A:B,2,FALSE)",
            "a formula, not a value",
        ),
        ("=A1&B1", "=A1&B1", "a formula, not a value"),
        ("0312345678", "0312345678", None),
        ("=", "=", None),
    ],
)
def test_strip_formula(text: str, value: str, repair: str | None) -> None:
    fixed, note = strip_formula(text)

    assert (fixed, str(note) if note else None) == (value, repair)


@pytest.mark.parametrize(
    ("text", "value", "repair"),
    [
        ("600001", "0600001", "leading zero restored"),  # 060-0001 札幌市中央区北一条西
        ("10010", "0010010", "leading zero restored"),  # 001-0010 札幌市北区北十条西
        ("〒１５０－０００２", "〒150-0002", "full-width digits made half-width"),
        ("１６００００２３", "１６００００２３", None),  # eight digits: left for validation
        ("100-0005", "100-0005", None),
        ("1600023", "1600023", None),
        ("999999", "999999", None),  # 099-9999 is no postal code
        ("東京都", "東京都", None),
    ],
)
def test_repair_postal_code(text: str, value: str, repair: str | None) -> None:
    fixed, note = repair_postal_code(text)

    assert (fixed, str(note) if note else None) == (value, repair)


@pytest.mark.parametrize(
    ("text", "value", "repair"),
    [
        ("9012345678", "09012345678", "leading zero restored"),
        ("312345678", "0312345678", "leading zero restored"),
        ("112515678", "0112515678", "leading zero restored"),
        ("９０８７６５４３２１", "09087654321", "leading zero restored"),
        ("０３－３４０９－１２３４", "03-3409-1234", "full-width digits made half-width"),
        ("03-1234-5678", "03-1234-5678", None),
        ("+81 90 1234 5678", "+81 90 1234 5678", None),
        ("12345", "12345", None),
        ("1234567890", "1234567890", None),  # 01234567890 is no valid number either
    ],
)
def test_repair_phone(text: str, value: str, repair: str | None) -> None:
    fixed, note = repair_phone(text)

    assert (fixed, str(note) if note else None) == (value, repair)


@pytest.mark.parametrize(
    ("text", "value", "repair"),
    [
        ("¥12,000", "12000", "currency sign and thousands separators removed"),
        ("￥1,234,567", "1234567", "currency sign and thousands separators removed"),
        ("\\3,000", "3000", "currency sign and thousands separators removed"),  # ¥ in cp932
        ("１２，０００円", "12000", "currency sign and thousands separators removed"),
        ("12,000円", "12000", "currency sign and thousands separators removed"),
        ("▲1,500", "-1500", "accounting minus sign (▲) made a minus sign"),
        ("１２０００", "12000", "full-width digits made half-width"),
        ("12000", "12000", None),
        ("-12.5", "-12.5", None),
        ("1,2", "1,2", None),
        ("未定", "未定", None),
    ],
)
def test_repair_digits(text: str, value: str, repair: str | None) -> None:
    fixed, note = repair_digits(text)

    assert (fixed, str(note) if note else None) == (value, repair)


@pytest.mark.parametrize(
    ("text", "value", "repair"),
    [
        ("2024-04-01", "2024-04-01", None),
        ("2024/4/1", "2024-04-01", None),
        ("2024/04/01", "2024-04-01", None),
        ("2024年4月1日", "2024-04-01", None),
        ("令和6年4月1日", "2024-04-01", None),
        ("R6.4.1", "2024-04-01", None),
        ("H31.4.30", "2019-04-30", None),
        ("２０２４／４／１", "2024-04-01", None),
        ("45383", "2024-04-01", "Excel date number converted to a date"),
        ("45383.75", "2024-04-01", "Excel date number converted to a date"),
        ("2024/4/1 0:00", "2024-04-01", None),
        ("2024-04-01T00:00:00", "2024-04-01", None),
        ("2024/4/1 10:30", "2024-04-01", "time of day dropped"),
        ("2024-04-01T10:30:00+09:00", "2024-04-01", "time of day dropped"),
        ("2024", "2024", None),
        ("2024/2/30", "2024/2/30", None),
        ("来月", "来月", None),
    ],
)
def test_repair_date(text: str, value: str, repair: str | None) -> None:
    fixed, note = repair_date(text)

    assert (fixed, str(note) if note else None) == (value, repair)


# -- column suggestions ---------------------------------------------------------------------


def test_the_sample_headers_are_mapped_to_account_fields() -> None:
    csv_headers = open_table(LEDGER_CSV, samples.CSV_NAME).headers
    xlsx_headers = open_table(LEDGER_XLSX, samples.XLSX_NAME).headers
    targets = builtin_targets("accounts")

    assert dict(zip(csv_headers, suggest(csv_headers, targets), strict=True)) == {
        "顧客コード": "code", "顧客名": "name", "フリガナ": "reading", "〒": "postal_code",
        "住所": "address", "電話": "phone", "FAX": "fax", "メール": "email", "担当者": "owner",
        "車検日": None, "備考": "notes",
    }  # fmt: skip
    assert dict(zip(xlsx_headers, suggest(xlsx_headers, targets), strict=True)) == {
        "顧客コード": "code", "顧客名": "name", "フリガナ": "reading",
        "住所 郵便番号": "postal_code", "住所 都道府県": "prefecture", "住所 市区町村": "city",
        "住所 番地": "address", "電話": "phone", "携帯": "mobile", "メール": "email",
        "担当者": "owner", "車検日": None, "累計金額": None, "DM可": None, "連絡時間": None,
        "備考": "notes",
    }  # fmt: skip


def test_the_purchase_sheet_is_mapped_to_purchase_fields() -> None:
    headers = open_table(LEDGER_XLSX, samples.XLSX_NAME, sheet="購入履歴").headers

    assert suggest(headers, builtin_targets("purchases")) == [
        "account", "purchased_at", "product", "quantity", "amount", "store",
    ]  # fmt: skip


def test_english_and_full_width_headers_are_mapped() -> None:
    headers = ["Customer Name", "Kana", "Phone Number", "Mobile", "E-mail Address", "Zip Code",
               "State", "City", "Street", "Sales Rep", "Notes", "Customer ID"]  # fmt: skip

    assert suggest(headers, builtin_targets("accounts")) == [
        "name", "reading", "phone", "mobile", "email", "postal_code", "prefecture", "city",
        "address", "owner", "notes", "code",
    ]  # fmt: skip
    assert suggest(["ＴＥＬ（代表）", "ｅ－ｍａｉｌ", "ﾌﾘｶﾞﾅ"], builtin_targets("accounts")) == [
        "phone",
        "email",
        "reading",
    ]


def test_containing_a_word_matches_the_longest_word_nearest_the_end() -> None:
    headers = ["取引先名フリガナ", "本社電話番号", "担当者メール", "備考欄", "顧客ID", "Notebook"]

    assert suggest(headers, builtin_targets("accounts")) == [
        "reading",
        "phone",
        "email",
        "notes",
        "code",
        None,  # neither "no" nor "note" is a word of it
    ]


def test_each_field_goes_to_one_column_the_best_match_first() -> None:
    headers = ["電話番号2", "電話", "住所", "住所2"]

    assert suggest(headers, builtin_targets("accounts")) == [None, "phone", "address", None]


def test_contacts_headers_are_mapped_to_contact_fields() -> None:
    headers = ["会社名", "部署", "役職", "担当者名", "氏名カナ", "携帯番号", "メールアドレス"]

    assert suggest(headers, builtin_targets("contacts")) == [
        "account", "department", "title", "name", "reading", "mobile", "email",
    ]  # fmt: skip


def test_a_custom_field_matches_its_own_label_only() -> None:
    targets = [*builtin_targets("accounts"), Target("fields.shaken", ("車検日", "Inspection date"))]

    assert suggest(["次回車検日", "車検日"], targets) == [None, "fields.shaken"]
    assert suggest(["ＩＮＳＰＥＣＴＩＯＮ　ＤＡＴＥ"], targets) == ["fields.shaken"]


def test_known_header_words_cover_every_synonym() -> None:
    assert {"顧客名", "フリガナ", "〒", "携帯", "担当者", "購入日", "税込金額", "部署"} <= (
        KNOWN_HEADER_WORDS
    )
