"""A non-editable install carries everything it needs: templates, pwa/, migrations, catalogs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our own build and install commands
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_wheel_installs_and_serves_without_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        wheels,
        ROOT,
        cwd=tmp_path,
    )
    wheel = next(wheels.glob("fieldcrm-*.whl"))

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # The dependencies come from the test environment; FieldCRM itself only from the wheel.
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).strip()
    )
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)

    where = _run(python, "-c", "import server; print(server.__file__)", cwd=tmp_path)
    assert str(venv) in where, "FieldCRM was imported from somewhere else than the install"

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["FIELDCRM_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/installed.db"
    fieldcrm = venv / "bin" / "fieldcrm"
    _run(fieldcrm, "db", "upgrade", cwd=tmp_path, env=env)

    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [str(fieldcrm), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert login.status_code == 200
        assert "ログイン" in login.text  # templates and the Japanese catalog are in the wheel
        css = httpx.get(f"http://127.0.0.1:{port}/static/css/app.css", timeout=5)
        assert css.status_code == 200  # so is pwa/
    finally:
        server.terminate()
        server.communicate(timeout=20)
