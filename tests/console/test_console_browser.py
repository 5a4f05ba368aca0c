"""The console in a real headless Chromium: sign in through a /web link, filter, open, transfer, export,
figures with charts drawn, and a refused page of another community."""

from __future__ import annotations

import pytest

from tests.console.browser import Server, driver, why_no_browser
from tests.console.conftest import play

pytestmark = pytest.mark.skipif(why_no_browser() is not None, reason=why_no_browser() or "")


@pytest.fixture
def browser():
    found = driver()
    yield found
    found.quit()


def wait(browser, condition, timeout: float = 10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def rows(browser, table: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.text for r in browser.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def test_sign_in_filter_open_transfer_export_figures_and_refusal(tmp_path, monkeypatch, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    p = play(tmp_path)
    with Server(p.app) as server:
        monkeypatch.setenv("LINLI_PUBLIC_URL", server.url)
        # sign in through the link the bot sent in the private chat
        browser.get(p.link("admin1"))
        wait(browser, lambda b: b.find_elements(By.ID, "tickets"))
        assert browser.current_url == f"{server.url}/admin/"
        assert "周主任（管理员）" in browser.page_source
        assert [r.split()[0] for r in rows(browser, "tickets")] == ["#4", "#3", "#2", "#1"]
        cookie = browser.get_cookie("linli_session")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"

        # filter the list: open tickets only
        Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("待接单")
        browser.find_element(By.ID, "f-apply").click()
        wait(browser, lambda b: "status=open" in b.current_url)
        assert [r.split()[0] for r in rows(browser, "tickets")] == ["#3"]

        # open the ticket and transfer it: the event log grows by one line
        browser.find_element(By.LINK_TEXT, "#3").click()
        wait(browser, lambda b: b.find_elements(By.ID, "events"))
        before = rows(browser, "events")
        assert "网格员陈静" in browser.find_element(By.ID, "assignee").text
        Select(browser.find_element(By.ID, "transfer-to")).select_by_visible_text("楼栋长郑丽")
        browser.find_element(By.CSS_SELECTOR, "#do-transfer button").click()
        wait(browser, lambda b: b.find_elements(By.ID, "notice"))
        assert "已转派给楼栋长郑丽" in browser.find_element(By.ID, "notice").text
        after = rows(browser, "events")
        assert len(after) == len(before) + 1 and "转派" in after[-1] and "楼栋长郑丽" in after[-1]
        assert browser.find_element(By.ID, "assignee").text == "楼栋长郑丽"

        # export CSV (fetched by the signed-in page itself)
        browser.get(f"{server.url}/admin/")
        href = browser.find_element(By.ID, "export-csv").get_attribute("href")
        text = browser.execute_async_script(
            "fetch(arguments[0]).then(r => r.text()).then(arguments[arguments.length - 1])", href)
        assert text.lstrip("\ufeff").startswith("工单号,类型,位置") and "楼栋长郑丽" in text

        # the figures page with its charts drawn by the vendored Chart.js
        browser.get(f"{server.url}/admin/figures?from=2026-03-01&to=2026-03-31&by=building")
        drawn = wait(browser, lambda b: b.execute_script(
            "const c = window.Chart && Chart.getChart('chart-groups');"
            "return c && c.data.datasets[0].data;"))
        assert drawn == [2, 1, 1]
        assert browser.execute_script("return !!Chart.getChart('chart-weeks')") is True
        painted = browser.execute_script(
            "const c = document.getElementById('chart-groups'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4)"
            " if (d[i]) n++; return n;")
        assert painted > 1000  # pixels drawn, not an empty canvas
        assert "响应率" in browser.find_element(By.ID, "totals").text

        # a ticket of another community is refused
        browser.get(f"{server.url}/admin/tickets/5")
        assert "无权查看工单 #5" in browser.find_element(By.ID, "refused").text
        assert "7号楼" not in browser.page_source
    p.app.db.dispose()
