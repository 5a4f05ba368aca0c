"""``make screenshots``: phone and desktop screenshots of each main console page into docs/screenshots/.

Plays the replayed chat of tests/console/chat.py (plus one review item), serves the console and photographs
it in headless Chromium. Run: ``python -m tests.console.screenshots [OUT_DIR]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tests.console.browser import DESKTOP, PHONE, Server, driver, why_no_browser
from tests.console.conftest import play

PAGES = {
    "tickets": "/admin/",
    "ticket": "/admin/tickets/2",
    "figures": "/admin/figures?from=2026-03-01&to=2026-03-31&by=building",
    "review": "/admin/review",
}


def main(out: Path) -> int:
    reason = why_no_browser()
    if reason:
        print(f"screenshots skipped: {reason}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        p = play(Path(tmp))
        from storage.models import ReviewItem

        with p.app.db.session() as s:
            s.add(ReviewItem(community="zhenghong", person="r_zhou", text="9号楼门口那块有点问题，能不能来看看",
                             guess="facilities", confidence=0.31, at=p.clock.now()))
        with Server(p.app) as server:
            os.environ["LINLI_PUBLIC_URL"] = server.url
            for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
                browser = driver(size)
                try:
                    browser.get(p.link("admin1"))
                    for name, path in PAGES.items():
                        browser.get(server.url + path)
                        if name == "figures":
                            from selenium.webdriver.support.ui import WebDriverWait

                            WebDriverWait(browser, 10).until(
                                lambda b: b.execute_script("return !!(window.Chart && Chart.getChart('chart-weeks'))"))
                        height = browser.execute_script("return document.documentElement.scrollHeight")
                        browser.set_window_size(size[0], min(max(size[1], height), 4000))
                        target = out / f"{name}-{label}.png"
                        browser.save_screenshot(str(target))
                        browser.set_window_size(*size)
                        print(target)
                finally:
                    browser.quit()
        p.app.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")))
