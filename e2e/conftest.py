"""Browser tests: the real server on a free port, Debian's Chromium at phone size.

Chromium is required: when /usr/bin/chromium is missing these tests fail, never skip.
Screenshots of each journey are kept in e2e/artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("FIELDCRM_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"width": 390, "height": 844}
DEMO_PASSWORD = "fieldcrm-demo"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is required for the browser tests and is not at {CHROMIUM} "
            "(apt-get install chromium).",
            pytrace=False,
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": PHONE,
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
        "locale": "ja-JP",
        "timezone_id": "Asia/Tokyo",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`fieldcrm serve --demo` on its own SQLite file and port."""
    home = tmp_path_factory.mktemp("server")
    port = _free_port()
    env = {
        **os.environ,
        "FIELDCRM_DATABASE_URL": f"sqlite+aiosqlite:///{home}/e2e.db",
        "PYTHONPATH": str(ROOT),
        # The push test's own push service listens on localhost.
        "FIELDCRM_PUSH_ALLOW_HOSTS": "127.0.0.1",
    }
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "server", "serve", "--demo", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                process.kill()
                pytest.fail(f"the server did not start:\n{output}", pytrace=False)
            time.sleep(0.3)
    yield url
    process.terminate()
    process.communicate(timeout=20)


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Any:
    """Save a screenshot of the page as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page: Any, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{name}.png"), full_page=True)

    return take


def watch_for_errors(page: Any) -> list[str]:
    """Collect script errors, CSP violations and failed sub-resources.

    A refused form (422) is the page doing its job, so it is not an error here.
    """
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response: Any) -> None:
        refused_form = response.status == 422
        if (
            response.status >= 400
            and not refused_form
            and response.request.resource_type != "document"
        ):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", on_response)
    return errors
