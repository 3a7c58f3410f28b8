"""The console in a real browser (headless Debian Chromium through Playwright), over real HTTP.

The scenario of issue 7: an intake officer files a report through the form, the bank's
desk executes the stop-payment with the account's onward transactions, the case's trace
reaches level 2, and the commander's dashboard, left open, updates by itself. Plus role
checks, labels, keyboard navigation, the language switch and a screenshot of every page.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from console_helpers import PASSWORD, LiveServer, Tab

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Asia/Shanghai")


def _int(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text) or 0)


def _api_token(base: str, username: str) -> str:
    r = httpx.post(base + "/api/auth/token", data={"username": username, "password": PASSWORD}, timeout=10)
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def _api_case(base: str, to_bank: str, to_account: str) -> dict[str, Any]:
    """A report filed through the JSON API (for tests that need an order but not the form)."""
    token = _api_token(base, "intake")
    report = {
        "idempotency_key": uuid.uuid4().hex, "typology": "fake_loan", "victim": {"number": "13700137000"},
        "transfers": [{"amount_cents": 1_000_000, "time": datetime.now(TZ).isoformat(), "to_bank": to_bank,
                       "to_account": to_account}],
    }
    r = httpx.post(base + "/api/cases", json=report, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    r.raise_for_status()
    case: dict[str, Any] = r.json()
    return case


def _tab_until(page: Any, selector: str, limit: int = 200) -> int:
    """Press Tab until ``selector`` has the focus; returns how many presses it took."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(sel) => document.activeElement === document.querySelector(sel)", selector):
            return n
    raise AssertionError(f"Tab never reached {selector}")


def test_report_to_stop_payment_to_dashboard(tab_factory: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    commander: Tab = tab_factory()
    commander.login("commander")
    assert commander.page.url.endswith("/dashboard")
    cases_tile = commander.page.get_by_test_id("metric-cases")
    stops_tile = commander.page.get_by_test_id("metric-stops_executed")
    cases_before, stops_before = _int(cases_tile.inner_text()), _int(stops_tile.inner_text())

    # 1. The intake officer files the report through the form.
    intake: Tab = tab_factory()
    intake.login("intake")
    page = intake.page
    assert page.url.endswith("/intake")
    # every visible form control has a label
    controls = "form.intake input:not([type=hidden]), form.intake select, form.intake textarea"
    unlabelled = page.evaluate(
        "(sel) => [...document.querySelectorAll(sel)].filter(el => !el.labels || !el.labels.length).map(el => el.name)",
        controls,
    )
    assert unlabelled == []
    # keyboard: from the first field, Tab reaches the submit button
    page.get_by_label("警情编号").focus()
    assert _tab_until(page, "#intake-submit") > 5
    account = f"62220{uuid.uuid4().int % 10**11:011d}"
    sent_at = datetime.now(TZ) - timedelta(minutes=4)
    page.get_by_label("警情编号").fill(f"JQ-{uuid.uuid4().hex[:8]}")
    page.get_by_label("案件类型").select_option("impersonate_police")
    page.get_by_label("受害人手机号").fill("13800138000")
    page.get_by_label("辖区").fill("思明区")
    page.get_by_label("受理派出所").select_option("XM-SIMING-PS")
    first = page.locator("fieldset.transfer").first
    first.get_by_label("转账时间").fill(sent_at.strftime("%Y-%m-%dT%H:%M"))
    first.get_by_label("金额（元）").fill("50000")
    first.get_by_label("收款银行").select_option("ICBC")
    first.get_by_label("收款账户").fill(account)
    page.get_by_label("诈骗电话").fill("13912345678")
    page.get_by_label("网址").fill("http://fake-police-example.com/case")
    intake.shot("intake-form")
    page.locator("#intake-submit").click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = page.url
    expect(page.locator("table").first).to_contain_text(account)
    expect(page.get_by_test_id("follow-progress-text")).to_contain_text("已办结 0/1")
    intake.shot("case-before-stop")

    # The commander's open dashboard picks up the new case by itself (polling).
    expect(cases_tile).to_have_text(str(cases_before + 1), timeout=15_000)

    # 2. The bank's desk executes the stop-payment with the onward transactions.
    desk: Tab = tab_factory()
    desk.login("desk-icbc")
    dp = desk.page
    assert dp.url.endswith("/desk")
    card = dp.locator("article.order", has_text=account)
    expect(card).to_have_count(1)
    expect(card.get_by_test_id(re.compile("status-"))).to_have_text("待签收")
    desk.shot("desk-queue")
    card.get_by_role("button", name="签收").click()
    card = dp.locator("article.order", has_text=account)
    expect(card.get_by_test_id(re.compile("status-"))).to_have_text("已签收")
    card.locator("summary", has_text="执行并回填结果").click()
    card.get_by_label("止付/冻结金额（元）").fill("30000")
    card.get_by_label("户名").fill("王某")
    onward = (sent_at + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")
    card.get_by_label("账户后续流水").fill(f"{onward}, 15000, CCB, 6217000099998888\n{onward}, 5000, , , atm")
    desk.shot("desk-execute-form")
    card.get_by_role("button", name="提交执行结果").click()
    card = dp.locator("article.order", has_text=account)
    expect(card.get_by_test_id(re.compile("status-"))).to_have_text("已执行")
    desk.shot("desk-after-execute")

    # 3. The open case page's progress moves by itself: the first stop answered, the loop has
    # ordered the onward account's stop (level 2); after a reload the trace shows level 2.
    expect(page.get_by_test_id("follow-progress-text")).to_contain_text("已办结 1/2", timeout=15_000)
    expect(page.get_by_test_id("follow-progress-text")).to_contain_text("第 2 级")
    page.goto(case_url)
    expect(page.get_by_test_id("trace-depth")).to_contain_text("2")
    trace = page.get_by_test_id("trace-table")
    expect(trace.locator('tr[data-level="2"]', has_text="6217000099998888")).to_have_count(1)
    expect(trace.locator("tr.held", has_text=account)).to_have_count(1)
    page.wait_for_function("() => !!document.querySelector('[data-chart] canvas')")
    page.wait_for_timeout(1500)  # let the Sankey's entry animation finish before the screenshot
    intake.shot("case-trace-level-2")

    # 4. The commander's dashboard counts the executed stop-payment without a reload.
    expect(stops_tile).to_have_text(str(stops_before + 1), timeout=15_000)
    expect(commander.page.locator(".ticker")).to_contain_text("已执行")
    commander.page.wait_for_function("() => document.querySelectorAll('[data-chart] canvas').length >= 2")
    commander.page.wait_for_timeout(1000)
    commander.shot("dashboard")

    for t in (commander, intake, desk):
        assert t.errors == [], f"browser console errors: {t.details}"


def test_a_desk_sees_only_its_own_organisations_orders(tab_factory: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    case = _api_case(live_server.url, "ICBC", f"62221{uuid.uuid4().int % 10**11:011d}")
    icbc_order = next(o for o in case["orders"] if o["addressee"] == "ICBC")

    other: Tab = tab_factory()
    other.login("desk-ccb")
    response = other.go(f"/orders/{icbc_order['id']}")
    assert response is not None and response.status == 404
    expect(other.page.get_by_test_id("error-title")).to_have_text("未找到（或不属于本单位）")
    other.shot("order-of-another-bank-404")
    expect(other.page.locator("#main")).not_to_contain_text(icbc_order["target"])
    # nor is it in the other bank's queue, and the center's pages are closed to a desk
    other.go("/desk")
    expect(other.page.locator("#queue")).not_to_contain_text(icbc_order["target"])
    nav = other.page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link")).to_have_text(["工作台"])
    response = other.go("/dashboard")
    assert response is not None and response.status == 403
    response = other.go(f"/cases/{case['id']}")
    assert response is not None and response.status == 403

    own: Tab = tab_factory()
    own.login("desk-icbc")
    response = own.go(f"/orders/{icbc_order['id']}")
    assert response is not None and response.status == 200
    expect(own.page.get_by_test_id("order-status")).to_have_text("待签收")
    own.shot("order-page")


def test_sign_in_keyboard_language_and_every_page(tab_factory: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    from fanzha.numbers import lists

    with live_server.app.state.db.write() as session:
        lists.propose(session, lists.Proposal(number="+8617012345678", detector="behaviour", confidence=0.71,
                                              rule_version="test-1", evidence={"calls_out": 312, "answered": 0.08}),
                      auto_threshold=0.99)

    tab: Tab = tab_factory()
    page = tab.page
    tab.go("/dashboard")
    assert "/login" in page.url  # signed out: to the sign-in form
    tab.shot("login")
    # keyboard only: Tab to the fields and the button, type, press Enter
    page.locator("body").focus()
    _tab_until(page, "#username")
    page.keyboard.type("analyst")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong-password")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "login-submit"
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    assert tab.errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    tab.errors.clear()  # the refused sign-in's 401 was the point; nothing else may fail
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_label("用户名").fill("analyst")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/dashboard"))  # back to where the analyst was going

    # number review: the candidate with its evidence, confirmed by the analyst
    tab.go("/numbers")
    entry = page.locator("article.order", has_text="+8617012345678")
    expect(entry).to_have_count(1)
    entry.locator("summary").click()
    expect(entry).to_contain_text("calls_out")
    tab.shot("numbers")
    entry.get_by_label("审核意见").fill("三百次外呼、接通率8%")
    entry.get_by_role("button", name="确认列入黑名单").click()
    expect(page.locator("#h-decided ~ table")).to_contain_text("+8617012345678")

    # language switch
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Number review")
    tab.go("/dashboard?period=month")
    expect(page.get_by_role("heading", level=1)).to_have_text("Command dashboard")
    tab.shot("dashboard-month-en")
    page.get_by_role("link", name="中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("指挥大屏")
    tab.go("/cases")
    tab.shot("cases")
    page.get_by_role("button", name="退出").click()
    page.wait_for_url(re.compile(r"/login"))

    for username, path, heading, shot in (
        ("auditor", "/audit", "审计日志", "audit"),
        ("station", "/station", "思明派出所 预警看板", "station"),
    ):
        t: Tab = tab_factory()
        t.login(username)
        assert t.page.url.endswith(path)
        expect(t.page.get_by_role("heading", level=1)).to_have_text(heading)
        t.shot(shot)
        if username == "auditor":
            expect(t.page.get_by_test_id("audit-table")).to_contain_text("blacklist_confirm")
        else:
            expect(t.page.get_by_test_id("station-empty")).to_be_visible()
        assert t.errors == [], t.details
    assert tab.errors == [], tab.details
