"""The pages of the retention, sales cycle and activity analyses, for the app to register."""

from __future__ import annotations

from typing import Any

from server.analytics.activity import activity_pages
from server.analytics.cycle import cycle_pages
from server.analytics.retention import retention_pages

pages: list[Any] = [*retention_pages, *cycle_pages, *activity_pages]
