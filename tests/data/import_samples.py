"""Sample customer ledgers to import, damaged the way Japanese Excel damages them.

Run ``python -m tests.data.import_samples`` to write them again; the output is the same byte
for byte on every run, and a test checks that the committed files match this script.

顧客台帳_sjis.csv — a customer ledger exported from Excel as CSV (Shift_JIS, i.e. cp932, CRLF):

- row 1 is a title (``顧客台帳 2024年3月末現在``), row 2 is blank, the header is row 3:
  顧客コード, 顧客名, フリガナ, 〒, 住所, 電話, FAX, メール, 担当者, 車検日, 備考;
- every line ends with two empty columns (``,,``), and rows 34-36 after the data are empty;
- data rows 4-33 (30 customers), with characters only cp932 has: ①②③ and ㈱ in names and
  notes, 髙 and 﨑 in names; readings in full-width katakana, hiragana and half-width
  katakana (``ｶﾌﾞｼｷｶﾞｲｼｬ ﾀｶﾊｼｺｳﾑﾃﾝ``);
- postal codes that lost their leading zeros as numbers: ``600001`` (row 4, 060-0001),
  ``10010`` (row 20, 001-0010), ``400001`` (row 27, 040-0001); full-width ``〒１５０－０００２``
  (row 6); the others as ``100-0005`` or ``1600023``;
- phones that lost their leading zero: ``112515678`` (row 4, 011-251-5678), ``9012345678``
  (row 5), ``9087654321`` (row 23, in full-width digits); full-width ``０３－３４０９－１２３４``
  (row 6); Excel's formula text ``="0662345678"`` (row 7), ``="0222123456"`` (row 9) and
  ``="0112515679"`` in the FAX column (row 4);
- 車検日 written as ``令和6年4月1日``, ``R6.4.1``, ``2024/04/01``, ``H31.4.30`` and so on;
- owners (担当者) by e-mail (``rep1@example.com``) or by name (``高橋 翔太``), all demo reps;
- row 22 has a note over two lines (a quoted line break).

Rows that must fail validation: row 10 (e-mail ``ito.yumiko.example.ne.jp`` has no ``@``) and
row 11 (the reading ``渡辺建設`` is in kanji). Duplicates: rows 17 and 18 are the same
company (``株式会社山田製作所`` and ``㈱山田製作所``, both phone 03-5321-5678); row 19 is the
first demo account (seed 1, ``有限会社本田商事``, phone 082-590-3548).

顧客台帳.xlsx — the same kind of ledger kept as a workbook (xlsxwriter):

- sheet 顧客台帳: a title merged over A1:P1, row 2 blank, a two-row header on rows 3-4 with
  住所 merged over 郵便番号, 都道府県, 市区町村 and 番地 (D3:G3) and every other header
  cell merged down over both rows; data rows 5-16;
- typed cells: postal codes and phones stored as numbers, so their leading zeros are gone
  (600001 in row 5, 9012345678 in row 6); 車検日 as real dates; 累計金額 as numbers, one
  a tax-inclusive total with binary noise (98010.00000000001, shown by Excel as 98,010);
  DM可 as TRUE/FALSE; 連絡時間 as times (10:30);
- sheet 購入履歴: purchases with a one-row header on row 1 (顧客コード, 購入日, 商品名, 数量,
  金額, 店舗), dates as dates, quantities and amounts as numbers (one quantity is 4.5);
- sheet マスタ (hidden): a list of the reps, which is not a table to import.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import xlsxwriter

HERE = Path(__file__).parent
CSV_NAME = "顧客台帳_sjis.csv"
XLSX_NAME = "顧客台帳.xlsx"

CSV_HEADER = ["顧客コード", "顧客名", "フリガナ", "〒", "住所", "電話", "FAX", "メール", "担当者",
              "車検日", "備考"]  # fmt: skip
# fmt: off
CSV_ROWS: list[list[str]] = [
    # row 4: postal code and phone lost their zeros; the FAX is formula text
    ["C0001", "株式会社髙橋工務店", "ｶﾌﾞｼｷｶﾞｲｼｬ ﾀｶﾊｼｺｳﾑﾃﾝ", "600001",
     "北海道札幌市中央区北一条西3丁目2-1", "112515678", '="0112515679"',
     "info@takahashi-koumuten.example.jp", "rep1@example.com", "令和6年4月1日",
     "①定期点検 ②オイル交換"],
    # row 5: a mobile number that lost its zero
    ["C0002", "山﨑 美咲", "やまざき みさき", "100-0005", "東京都千代田区丸の内1丁目9-1",
     "9012345678", "", "misaki.yamazaki@example.ne.jp", "高橋 翔太", "R6.4.1", ""],
    # row 6: full-width postal code and phone
    ["C0003", "有限会社佐藤モータース", "サトウモータース", "〒１５０－０００２",
     "東京都渋谷区渋谷2丁目15-3", "０３－３４０９－１２３４", "03-3409-1235",
     "info@sato-motors.example.jp", "rep2@example.com", "2024/04/01", "代車あり"],
    # row 7: the phone kept its zero as formula text
    ["C0004", "株式会社中村商事", "ナカムラショウジ", "530-0001", "大阪府大阪市北区梅田1丁目3-1",
     '="0662345678"', "06-6234-5679", "sales@nakamura-shoji.example.jp", "田中 彩",
     "2024/5/20", "㈱大阪物産の紹介"],
    ["C0005", "田中 健一", "タナカ ケンイチ", "460-0008", "愛知県名古屋市中区栄3丁目4-5",
     "052-261-1234", "", "kenichi.tanaka@example.com", "rep3@example.com", "令和7年2月28日",
     ""],
    # row 9: formula text again
    ["C0006", "㈱鈴木電機", "スズキデンキ", "980-0021", "宮城県仙台市青葉区中央1丁目2-3",
     '="0222123456"', "022-212-3457", "info@suzuki-denki.example.jp", "伊藤 大輔",
     "2024/06/10", "③年次契約"],
    # row 10: the e-mail address has no @ (fails validation)
    ["C0007", "伊藤 由美子", "イトウ ユミコ", "812-0011", "福岡県福岡市博多区博多駅前2丁目1-1",
     "092-431-1234", "", "ito.yumiko.example.ne.jp", "rep1@example.com", "R7.3.15", ""],
    # row 11: the reading is in kanji (fails validation)
    ["C0008", "株式会社渡辺建設", "渡辺建設", "220-0012", "神奈川県横浜市西区みなとみらい2丁目2-1",
     "045-221-1234", "045-221-1235", "info@watanabe-kensetsu.example.jp", "高橋 翔太",
     "2024/08/01", ""],
    ["C0009", "合同会社ヤマモトデザイン", "ヤマモトデザイン", "1600023",
     "東京都新宿区西新宿1丁目6-1", "03-3345-6789", "", "hello@yamamoto-design.example.jp",
     "rep2@example.com", "", "Web制作"],
    ["C0010", "医療法人社団さくら歯科", "サクラシカ", "330-0803",
     "埼玉県さいたま市大宮区高鼻町1丁目5", "048-641-2345", "048-641-2346",
     "info@sakura-dental.example.jp", "田中 彩", "令和6年11月5日",
     "駐車場2台"],
    ["C0011", "小林 直樹", "こばやし なおき", "103-0027", "東京都中央区日本橋2丁目7-1",
     "080-1234-5678", "", "naoki.kobayashi@example.com", "rep3@example.com", "2025/01/20", ""],
    ["C0012", "株式会社加藤運輸", "カトウウンユ", "0700030", "北海道旭川市宮下通7丁目",
     "0166-23-4567", "0166-23-4568", "info@kato-unyu.example.jp", "伊藤 大輔", "H31.4.30",
     "②トラック3台"],
    ["C0013", "吉田 花子", "ﾖｼﾀﾞ ﾊﾅｺ", "231-0023", "神奈川県横浜市中区山下町10",
     "070-2345-6789", "", "hanako.yoshida@example.ne.jp", "rep1@example.com", "2024/09/30", ""],
    # rows 17 and 18: the same company twice (same phone)
    ["C0014", "株式会社山田製作所", "ヤマダセイサクショ", "160-0023", "東京都新宿区西新宿2丁目8-1",
     "03-5321-5678", "03-5321-5679", "info@yamada-ss.example.jp", "高橋 翔太", "2024/10/15",
     ""],
    ["C0015", "㈱山田製作所", "やまだせいさくしょ", "160-0023", "東京都新宿区西新宿2丁目8-1",
     "0353215678", "", "", "rep1@example.com", "", "旧台帳から転記"],
    # row 19: the first demo account (seed 1), by phone
    ["C0016", "有限会社本田商事", "ホンダショウジ", "730-0823", "広島県広島市中区吉島西2丁目19-16",
     "082-590-3548", "", "", "rep2@example.com", "", "展示会で名刺交換"],
    # row 20: a Sapporo postal code that lost two zeros
    ["C0017", "株式会社佐々木農園", "ササキノウエン", "10010", "北海道札幌市北区北十条西4丁目",
     "011-700-1234", "", "info@sasaki-farm.example.jp", "田中 彩", "令和6年7月7日", ""],
    ["C0018", "松本 涼子", "マツモト リョウコ", "600-8216", "京都府京都市下京区東塩小路町721",
     "075-351-1234", "", "ryoko.matsumoto@example.com", "rep3@example.com", "2024/12/01", ""],
    # row 22: a note on two lines
    ["C0019", "株式会社井上書店", "イノウエショテン", "920-0961", "石川県金沢市香林坊1丁目1-1",
     "076-221-1234", "076-221-1235", "info@inoue-shoten.example.jp", "伊藤 大輔",
     "2025/03/31", "①月末締め\n②翌月払い"],
    # row 23: a full-width mobile number that lost its zero
    ["C0020", "木村 拓哉", "キムラ タクヤ", "104-0061", "東京都中央区銀座4丁目6-16",
     "９０８７６５４３２１", "", "takuya.kimura@example.ne.jp", "rep1@example.com", "R6.5.1",
     ""],
    ["C0021", "株式会社林フーズ", "ハヤシフーズ", "151-0053", "東京都渋谷区代々木2丁目1-1",
     "03-3370-1234", "03-3370-1235", "order@hayashi-foods.example.jp", "高橋 翔太",
     "2024/07/15", ""],
    ["C0022", "清水 智子", "しみず ともこ", "541-0041", "大阪府大阪市中央区北浜1丁目8-16",
     "06-6202-1234", "", "tomoko.shimizu@example.com", "rep2@example.com", "令和6年10月1日", ""],
    ["C0023", "株式会社森モーターズ", "モリモーターズ", "450-0002",
     "愛知県名古屋市中村区名駅4丁目7-1", "052-581-1234", "052-581-1235",
     "service@mori-motors.example.jp", "田中 彩", "2024/11/11",
     "㈱森ホールディングス傘下"],
    # row 27: another postal code that lost its zero (函館)
    ["C0024", "池田 恵", "イケダ メグミ", "400001", "北海道函館市五稜郭町43-9",
     "0138-51-1234", "", "megumi.ikeda@example.ne.jp", "rep3@example.com", "2025/02/14", ""],
    ["C0025", "株式会社橋本工業", "ハシモトコウギョウ", "260-0013",
     "千葉県千葉市中央区中央2丁目5-1", "043-222-1234", "043-222-1235",
     "info@hashimoto-kogyo.example.jp", "伊藤 大輔",
     "2024/06/30", ""],
    ["C0026", "山口 翔", "ヤマグチ ショウ", "010-0001", "秋田県秋田市中通2丁目3-8",
     "018-833-1234", "", "sho.yamaguchi@example.com", "rep1@example.com", "", ""],
    ["C0027", "株式会社阿部商会", "アベショウカイ", "020-0022", "岩手県盛岡市大通1丁目2-1",
     "019-622-1234", "019-622-1235", "info@abe-shokai.example.jp", "高橋 翔太", "令和6年9月9日",
     ""],
    ["C0028", "石川 大地", "イシカワ ダイチ", "060-0042", "北海道札幌市中央区大通西4丁目",
     "011-231-1234", "", "daichi.ishikawa@example.com", "rep2@example.com", "2024/04/20", ""],
    ["C0029", "株式会社前田ホーム", "マエダホーム", "540-0001", "大阪府大阪市中央区城見1丁目2-27",
     "06-6941-1234", "06-6941-1235", "info@maeda-home.example.jp", "田中 彩", "2025/05/05",
     "リフォーム相談"],
    ["C0030", "藤田 美穂", "フジタ ミホ", "980-0021", "宮城県仙台市青葉区中央3丁目1-1",
     "022-262-1234", "", "miho.fujita@example.ne.jp", "rep3@example.com", "R6.8.8", ""],
]
# fmt: on
CSV_TRAILING_COLUMNS = 2
CSV_TRAILING_ROWS = 3
# Row numbers in the file, as Excel shows them.
CSV_HEADER_ROW = 3
CSV_FIRST_DATA_ROW = 4
CSV_INVALID_EMAIL_ROW = 10
CSV_KANJI_READING_ROW = 11
CSV_SAME_PHONE_ROWS = (17, 18)
CSV_DEMO_DUPLICATE_ROW = 19

XLSX_HEADER = ["顧客コード", "顧客名", "フリガナ", "住所", "", "", "", "電話", "携帯", "メール",
               "担当者", "車検日", "累計金額", "DM可", "連絡時間", "備考"]  # fmt: skip
XLSX_SUBHEADER = ["", "", "", "郵便番号", "都道府県", "市区町村", "番地"]
# fmt: off
XLSX_ROWS: list[list[Any]] = [
    ["K001", "株式会社髙橋工務店", "タカハシコウムテン", 600001, "北海道", "札幌市中央区",
     "北一条西3丁目2-1", 112515678, None, "info@takahashi-koumuten.example.jp",
     "rep1@example.com", date(2024, 4, 1), 1250000, True, time(10, 30), "①定期点検"],
    ["K002", "山﨑 美咲", "ヤマザキ ミサキ", 1000005, "東京都", "千代田区", "丸の内1丁目9-1",
     None, 9012345678, "misaki.yamazaki@example.ne.jp", "高橋 翔太", date(2024, 5, 20),
     98010.00000000001, False, time(18, 0), ""],
    ["K003", "有限会社佐藤モータース", "サトウモータース", 1500002, "東京都", "渋谷区",
     "渋谷2丁目15-3", 334091234, None, "info@sato-motors.example.jp", "rep2@example.com",
     date(2025, 1, 31), 356000, True, None, "㈱佐藤ホールディングス"],
    ["K004", "株式会社中村商事", "ナカムラショウジ", 5300001, "大阪府", "大阪市北区",
     "梅田1丁目3-1", 662345678, None, "sales@nakamura-shoji.example.jp", "田中 彩",
     date(2024, 11, 15), 2480000, False, time(9, 0), ""],
    ["K005", "田中 健一", "タナカ ケンイチ", 4600008, "愛知県", "名古屋市中区", "栄3丁目4-5",
     None, 8012345678, "kenichi.tanaka@example.com", "rep3@example.com", date(2024, 8, 8),
     45000, True, None, ""],
    ["K006", "株式会社鈴木電機", "スズキデンキ", 9800021, "宮城県", "仙台市青葉区",
     "中央1丁目2-3", 222123456, None, "info@suzuki-denki.example.jp", "伊藤 大輔",
     date(2024, 6, 10), 780000, True, time(14, 0), "③年次契約"],
    ["K007", "伊藤 由美子", "イトウ ユミコ", 8120011, "福岡県", "福岡市博多区",
     "博多駅前2丁目1-1", None, 7023456789, "yumiko.ito@example.ne.jp", "rep1@example.com",
     date(2025, 3, 15), 12000, False, None, ""],
    ["K008", "株式会社渡辺建設", "ワタナベケンセツ", 2200012, "神奈川県", "横浜市西区",
     "みなとみらい2丁目2-1", 452211234, None, "info@watanabe-kensetsu.example.jp", "高橋 翔太",
     date(2024, 9, 1), 5200000, True, time(10, 30), ""],
    ["K009", "佐々木 大輔", "ササキ ダイスケ", 10010, "北海道", "札幌市北区", "北十条西4丁目",
     None, 9076543210, "daisuke.sasaki@example.com", "rep2@example.com", date(2024, 12, 24),
     67000, False, None, ""],
    ["K010", "株式会社林フーズ", "ハヤシフーズ", 1510053, "東京都", "渋谷区", "代々木2丁目1-1",
     333701234, None, "order@hayashi-foods.example.jp", "田中 彩", date(2025, 2, 1), 1830000,
     True, time(16, 45), ""],
    ["K011", "清水 智子", "シミズ トモコ", 5410041, "大阪府", "大阪市中央区", "北浜1丁目8-16",
     None, 8087654321, "tomoko.shimizu@example.com", "rep3@example.com", date(2024, 7, 7),
     23000, True, None, ""],
    ["K012", "株式会社森モーターズ", "モリモーターズ", 4500002, "愛知県", "名古屋市中村区",
     "名駅4丁目7-1", 525811234, None, "service@mori-motors.example.jp", "伊藤 大輔",
     date(2025, 4, 1), 940000, False, time(11, 15), ""],
]
PURCHASE_HEADER = ["顧客コード", "購入日", "商品名", "数量", "金額", "店舗"]
PURCHASE_ROWS: list[list[Any]] = [
    ["K001", date(2023, 4, 12), "法定点検パック", 1, 48000, "札幌本店"],
    ["K001", date(2023, 10, 3), "オイル交換", 2, 11000, "札幌本店"],
    ["K002", date(2024, 1, 20), "スタッドレスタイヤ", 4, 96000, "丸の内店"],
    ["K003", date(2023, 6, 30), "車検整備", 1, 128000, "渋谷店"],
    ["K004", date(2023, 8, 15), "社用車リース", 3, 540000, "梅田店"],
    ["K004", date(2024, 2, 1), "ドライブレコーダー", 3, 89700, "梅田店"],
    ["K006", date(2023, 12, 5), "エンジンオイル (L)", 4.5, 9900, "仙台店"],
    ["K008", date(2024, 3, 18), "社用車リース", 5, 900000, "横浜店"],
    ["K010", date(2023, 11, 11), "洗車コーティング", 1, 33000, "オンライン"],
    ["K012", date(2024, 3, 29), "車検整備", 1, 132000, "名古屋店"],
]
# fmt: on
XLSX_HEADER_ROW = 3
XLSX_FIRST_DATA_ROW = 5
# Fixed so that the workbook is the same bytes on every run.
_CREATED = datetime(2024, 3, 31, 18, 0)


def write_samples(directory: Path = HERE) -> list[Path]:
    """Write both sample files into ``directory``; answer their paths."""
    csv_path = directory / CSV_NAME
    csv_path.write_bytes(sample_csv())
    xlsx_path = directory / XLSX_NAME
    xlsx_path.write_bytes(sample_xlsx())
    return [csv_path, xlsx_path]


def sample_csv() -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    blank = [""] * (len(CSV_HEADER) + CSV_TRAILING_COLUMNS)
    writer.writerow(["顧客台帳 2024年3月末現在", *blank[1:]])
    writer.writerow(blank)
    padding = [""] * CSV_TRAILING_COLUMNS
    writer.writerow(CSV_HEADER + padding)
    for row in CSV_ROWS:
        writer.writerow(row + padding)
    for _ in range(CSV_TRAILING_ROWS):
        writer.writerow(blank)
    return buffer.getvalue().encode("cp932")


def sample_xlsx() -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"created": _CREATED, "author": "FieldCRM"})
    _ledger_sheet(book)
    _purchase_sheet(book)
    master = book.add_worksheet("マスタ")
    for index, rep in enumerate(("高橋 翔太", "田中 彩", "伊藤 大輔")):
        master.write(index, 0, rep)
    master.hide()
    book.close()
    return buffer.getvalue()


def _ledger_sheet(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("顧客台帳")
    bold = book.add_format({"bold": True, "align": "center", "valign": "vcenter"})
    formats = {
        "postal": book.add_format({"num_format": "000-0000"}),
        "phone": book.add_format({"num_format": "0##########"}),
        "date": book.add_format({"num_format": "yyyy/mm/dd"}),
        "yen": book.add_format({"num_format": "¥#,##0"}),
        "time": book.add_format({"num_format": "hh:mm"}),
    }
    last = len(XLSX_HEADER) - 1
    sheet.merge_range(0, 0, 0, last, "顧客台帳 2024年3月末現在", bold)
    top, sub = XLSX_HEADER_ROW - 1, XLSX_HEADER_ROW
    sheet.merge_range(top, 3, top, 6, "住所", bold)
    for column, name in enumerate(XLSX_HEADER):
        if column not in range(3, 7):
            sheet.merge_range(top, column, sub, column, name, bold)
    for column, name in enumerate(XLSX_SUBHEADER):
        if name:
            sheet.write_string(sub, column, name, bold)
    kinds = ["", "", "", "postal", "", "", "", "phone", "phone", "", "", "date", "yen", "", "time"]
    for offset, row in enumerate(XLSX_ROWS):
        for column, value in enumerate(row):
            _write(sheet, XLSX_FIRST_DATA_ROW - 1 + offset, column, value, formats, kinds)


def _write(
    sheet: Any,
    row: int,
    column: int,
    value: Any,
    formats: dict[str, Any],
    kinds: list[str],
) -> None:
    kind = kinds[column] if column < len(kinds) else ""
    style = formats.get(kind)
    if value is None or value == "":
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, date | time):
        sheet.write_datetime(row, column, value, style)
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value, style)
    else:
        sheet.write_string(row, column, value)


def _purchase_sheet(book: xlsxwriter.Workbook) -> None:
    sheet = book.add_worksheet("購入履歴")
    bold = book.add_format({"bold": True})
    day = book.add_format({"num_format": "yyyy/mm/dd"})
    yen = book.add_format({"num_format": "#,##0"})
    for column, name in enumerate(PURCHASE_HEADER):
        sheet.write_string(0, column, name, bold)
    for offset, (code, when, product, quantity, amount, store) in enumerate(PURCHASE_ROWS):
        row = offset + 1
        sheet.write_string(row, 0, code)
        sheet.write_datetime(row, 1, when, day)
        sheet.write_string(row, 2, product)
        sheet.write_number(row, 3, quantity)
        sheet.write_number(row, 4, amount, yen)
        sheet.write_string(row, 5, store)


if __name__ == "__main__":
    for path in write_samples():
        print(path)  # noqa: T201 - a script's output
