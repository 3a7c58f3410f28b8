"""Fixtures of the console tests: a seeded store, the real app over HTTP, headless Chromium.

``console_app``: the API's ``create_app()`` with the console mounted, on a fresh SQLite
store seeded with the demo organisations and one user per role (password
:data:`PASSWORD`). ``live_server``: the same app served by uvicorn on a free localhost
port in a background thread. ``browser``: Debian's chromium driven by Playwright through
``executable_path`` (``scripts/browser.sh`` installs what is missing); when it cannot be
had the browser tests skip and the run ends with a red line saying so.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import pytest
from console_helpers import CHROMIUM_ARGS, REPO, LiveServer, Tab, make_app
from fastapi import FastAPI

BROWSER_SKIP_MARK = "Browser tests SKIPPED"


@pytest.fixture(scope="module")
def console_app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return make_app(tmp_path_factory.mktemp("console") / "ops.sqlite3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    import uvicorn

    app = make_app(tmp_path_factory.mktemp("live") / "ops.sqlite3")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console server did not start")
        time.sleep(0.1)
    yield LiveServer(url=url, app=app)
    server.should_exit = True
    thread.join(timeout=10)


# --------------------------------------------------------------------------- the browser


def _skip_loudly(why: str) -> NoReturn:
    message = f"{BROWSER_SKIP_MARK}: {why}"
    warnings.warn(message, UserWarning, stacklevel=2)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        proc = subprocess.run([str(REPO / "scripts" / "browser.sh")], capture_output=True, text=True, timeout=900,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _skip_loudly(f"scripts/browser.sh failed to run: {exc}")
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not path:
        _skip_loudly(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        _skip_loudly(f"the playwright package is missing ({exc})")
    pw = sync_playwright().start()
    try:
        try:
            b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        except Error as exc:
            _skip_loudly(f"chromium at {chromium_path} would not start: {str(exc).splitlines()[0]}")
        yield b
        b.close()
    finally:
        pw.stop()


@pytest.fixture
def tab_factory(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(lang: str = "zh-CN") -> Tab:
        ctx = browser.new_context(locale=lang, viewport={"width": 1366, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        # ``details`` names the page and, for an uncaught exception, its stack, so an
        # intermittent error can be traced to the script that threw it.
        details: list[str] = []

        def console(m: Any) -> None:
            if m.type == "error":
                errors.append(m.text)
                details.append(f"{page.url}: {m.text} @ {m.location}")

        def page_error(e: Any) -> None:
            errors.append(str(e))
            details.append(f"{page.url}: {e.stack or e}")

        page.on("console", console)
        page.on("pageerror", page_error)
        return Tab(page=page, base=live_server.url, errors=errors, details=details)

    yield make
    for ctx in contexts:
        ctx.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for rep in skipped if BROWSER_SKIP_MARK in str(getattr(rep, "longrepr", "")))
    if n:
        terminalreporter.write_sep("!", f"{n} {BROWSER_SKIP_MARK}: no usable headless Chromium", red=True)
