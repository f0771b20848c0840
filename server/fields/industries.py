"""Industry templates: the custom fields a trade usually needs, applied in one step.

Each field is written exactly as an admin would send it to ``POST /api/fields``, so a
template goes through the same checks as a hand-made definition. Admins adapt the fields
afterwards like any other.
"""

from __future__ import annotations

from typing import Any, Final


def _options(*pairs: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"value": value, "label": {"ja": ja, "en": en}} for value, ja, en in pairs]


def _same(*values: str) -> list[dict[str, Any]]:
    return [{"value": v, "label": {"ja": v, "en": v}} for v in values]


REAL_ESTATE: Final[list[dict[str, Any]]] = [
    {
        "entity": "account",
        "key": "rent",
        "type": "yen",
        "label": {"ja": "家賃", "en": "Rent"},
        "help": {"ja": "月額（円）", "en": "Per month, in yen"},
        "min": 0,
        "max": 10_000_000,
    },
    {
        "entity": "account",
        "key": "layout",
        "type": "select",
        "label": {"ja": "間取り", "en": "Layout"},
        "options": [
            *_same("1R", "1K", "1DK", "1LDK", "2K", "2DK", "2LDK", "3K", "3DK", "3LDK"),
            {"value": "4LDK+", "label": {"ja": "4LDK以上", "en": "4LDK or more"}},
        ],
    },
    {
        "entity": "account",
        "key": "station_minutes",
        "type": "integer",
        "label": {"ja": "駅徒歩（分）", "en": "Minutes to the station"},
        "min": 0,
        "max": 120,
    },
    {
        "entity": "account",
        "key": "preferred_area",
        "type": "text",
        "label": {"ja": "希望エリア", "en": "Preferred area"},
        "help": {"ja": "例：世田谷区、東急田園都市線沿線", "en": "e.g. Setagaya, along a line"},
        "max_length": 100,
    },
    {
        "entity": "account",
        "key": "move_in_date",
        "type": "date",
        "label": {"ja": "入居希望日", "en": "Desired move-in date"},
    },
    {
        "entity": "visit",
        "key": "viewing",
        "type": "boolean",
        "label": {"ja": "内見実施", "en": "Viewing done"},
        "default": False,
    },
]

CAR_DEALER: Final[list[dict[str, Any]]] = [
    {
        "entity": "account",
        "key": "car_model",
        "type": "text",
        "label": {"ja": "車種", "en": "Car model"},
        "required": True,
        "max_length": 100,
    },
    {
        "entity": "account",
        "key": "model_year",
        "type": "integer",
        "label": {"ja": "年式", "en": "Model year"},
        "required": True,
        "min": 1950,
        "max": 2100,
    },
    {
        "entity": "account",
        "key": "inspection_date",
        "type": "date",
        "label": {"ja": "車検日", "en": "Inspection date (shaken)"},
        "help": {
            "ja": "次回の車検満了日。和暦（令和7年4月1日）でも入力できます。",
            "en": "When the current inspection expires; 和暦 dates are accepted too.",
        },
        "required": True,
    },
    {
        "entity": "account",
        "key": "mileage_km",
        "type": "integer",
        "label": {"ja": "走行距離（km）", "en": "Mileage (km)"},
        "min": 0,
        "max": 2_000_000,
    },
    {
        "entity": "visit",
        "key": "test_drive",
        "type": "boolean",
        "label": {"ja": "試乗", "en": "Test drive"},
        "default": False,
    },
]

RETAIL: Final[list[dict[str, Any]]] = [
    {
        "entity": "account",
        "key": "visit_count",
        "type": "integer",
        "label": {"ja": "来店回数", "en": "Store visits"},
        "min": 0,
        "default": 0,
    },
    {
        "entity": "account",
        "key": "member_rank",
        "type": "select",
        "label": {"ja": "会員ランク", "en": "Member rank"},
        "options": _options(
            ("regular", "一般", "Regular"),
            ("silver", "シルバー", "Silver"),
            ("gold", "ゴールド", "Gold"),
            ("platinum", "プラチナ", "Platinum"),
        ),
        "default": "regular",
    },
]

B2B: Final[list[dict[str, Any]]] = [
    {
        "entity": "account",
        "key": "industry",
        "type": "select",
        "label": {"ja": "業種", "en": "Industry"},
        "options": _options(
            ("manufacturing", "製造業", "Manufacturing"),
            ("construction", "建設業", "Construction"),
            ("wholesale", "卸売業", "Wholesale"),
            ("retail", "小売業", "Retail"),
            ("it", "情報通信業", "IT and communications"),
            ("finance", "金融・保険業", "Finance and insurance"),
            ("real_estate", "不動産業", "Real estate"),
            ("medical", "医療・福祉", "Healthcare and welfare"),
            ("services", "サービス業", "Services"),
            ("public", "官公庁・団体", "Public sector"),
            ("other", "その他", "Other"),
        ),
    },
    {
        "entity": "account",
        "key": "employee_count",
        "type": "integer",
        "label": {"ja": "従業員数", "en": "Employees"},
        "min": 0,
    },
    {
        "entity": "account",
        "key": "annual_revenue",
        "type": "yen",
        "label": {"ja": "年商", "en": "Annual revenue"},
        "help": {"ja": "円", "en": "In yen"},
        "min": 0,
    },
    {
        "entity": "account",
        "key": "website",
        "type": "url",
        "label": {"ja": "ウェブサイト", "en": "Website"},
    },
    {
        "entity": "contact",
        "key": "decision_maker",
        "type": "boolean",
        "label": {"ja": "決裁者", "en": "Decision maker"},
        "default": False,
    },
    {
        "entity": "visit",
        "key": "proposal_sent",
        "type": "boolean",
        "label": {"ja": "提案書提出", "en": "Proposal sent"},
        "default": False,
    },
]

TEMPLATES: Final[dict[str, dict[str, Any]]] = {
    "real_estate": {"label": {"ja": "不動産", "en": "Real estate"}, "fields": REAL_ESTATE},
    "car_dealer": {"label": {"ja": "自動車販売", "en": "Car dealer"}, "fields": CAR_DEALER},
    "retail": {"label": {"ja": "店舗・小売", "en": "Shop / retail"}, "fields": RETAIL},
    "b2b": {"label": {"ja": "法人営業（B2B）", "en": "B2B sales"}, "fields": B2B},
}
