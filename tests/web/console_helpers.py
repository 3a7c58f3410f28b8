"""Shared pieces of the console tests: the seeded app, CSRF scraping, a browser tab wrapper."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
PASSWORD = "console-test-pw-1"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(db_path: Path) -> FastAPI:
    """The real application (API + console) over a fresh SQLite file seeded with the demo platform."""
    from fanzha.api.main import create_app
    from fanzha.response.seed import seed_demo
    from fanzha.settings import Settings
    from fanzha.store.db import session_factory, session_scope
    from fanzha.web import mount_console

    url = f"sqlite:///{db_path}"
    settings = Settings(env="test", database_url=url, escalation_interval_seconds=0, outbox_interval_seconds=0,
                        login_attempts_per_minute=1000)
    app = create_app(settings, migrate=True)
    mount_console(app)
    with session_scope(session_factory(url)) as session:
        seed_demo(session, password=PASSWORD)
    return app


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "page has no CSRF token"
    return found.group(1)


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: FastAPI


@dataclass
class Tab:
    """A browser context on the live server, with the console errors it saw."""

    page: Any
    base: str
    errors: list[str]
    details: list[str] = field(default_factory=list)  # each error with its page and stack

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, username: str) -> None:
        self.go("/login")
        self.page.get_by_label(re.compile("用户名|Username")).fill(username)
        self.page.get_by_label(re.compile("密码|Password")).fill(PASSWORD)
        self.page.locator("#login-submit").click()
        self.page.wait_for_load_state("networkidle")
        assert "/login" not in self.page.url, f"{username} could not sign in"

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
