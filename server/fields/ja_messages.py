"""Japanese translations of the messages this feature adds, for the gettext catalog."""

from __future__ import annotations

from typing import Final

JA_MESSAGES: Final[dict[str, str]] = {
    "This key is already used by another field of the same record type.": (
        "このキーは同じ種類のレコードの別の項目で使われています。"
    ),
    "{count} stored records have values that do not fit the new rules (first ones: {ids}). "
    "Correct them first or keep the old rules.": (
        "保存済みの{count}件のレコードに新しいルールに合わない値があります（先頭のID: {ids}）。"
        "先に値を修正するか、元のルールのままにしてください。"
    ),
    "Not an active visit field.": "有効な訪問記録の項目ではありません。",
    "This field is already on the form.": "この項目はすでにフォームにあります。",
    "Must be a list of {{key, required}}.": "{{key, required}} のリストで指定してください。",
    "Must be true or false.": "true か false で指定してください。",
    "Use 1 to 40 lower-case letters, digits and _, starting with a letter (e.g. model_year).": (
        "英小文字で始まる1〜40文字の英小文字・数字・_ で指定してください（例：model_year）。"
    ),
    "Cannot be changed; make a new field instead.": (
        "変更できません。新しい項目を作成してください。"
    ),
    "Does not apply to fields of this type.": "この種類の項目には指定できません。",
    "A choice field needs at least one option.": "選択項目には選択肢が1つ以上必要です。",
    "Option values must be unique: {values}.": "選択肢の値が重複しています：{values}。",
    "Each option needs a value (up to 100 characters) and a label.": (
        "選択肢にはそれぞれ値（100文字以内）と表示名が必要です。"
    ),
    "The minimum must not be greater than the maximum.": "最小値は最大値以下にしてください。",
    "Explain the pattern to users in Japanese and in English.": (
        "入力形式の説明を日本語と英語で入力してください。"
    ),
    "Must be an amount in whole yen (e.g. 120000).": (
        "円単位の整数で入力してください（例：120000）。"
    ),
    "Not a valid date (e.g. 2025-04-01 or 令和7年4月1日).": (
        "日付が正しくありません（例：2025-04-01、令和7年4月1日）。"
    ),
    "Must be yes or no.": "「はい」か「いいえ」で指定してください。",
    "Not a valid web address (it must start with http:// or https://).": (
        "URLが正しくありません（http:// または https:// で始まる必要があります）。"
    ),
    "Must be a list of choices.": "選択肢のリストで指定してください。",
    "Does not have the expected form.": "入力形式が正しくありません。",
    "Not a pattern this form understands. Use letters, [classes], (groups), |, "
    "quantifiers (* + ? {{n,m}}) and the escapes \\d \\w \\s.": (
        "使用できない入力パターンです。文字、[文字クラス]、(グループ)、|、"
        "繰り返し（* + ? {{n,m}}）とエスケープ \\d \\w \\s を使ってください。"
    ),
    "Must be a single line.": "改行を含めないでください。",
    "This field is no longer in use; its value cannot be changed.": (
        "この項目は使用を終了しているため、値を変更できません。"
    ),
}
