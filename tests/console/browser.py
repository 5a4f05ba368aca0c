"""Real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driving the console served by uvicorn."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import uvicorn

from bot.channels.web import build_asgi_app

PHONE = (390, 844)
DESKTOP = (1366, 900)


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/lib/chromium/chromedriver"
                                               if shutil.os.path.exists("/usr/lib/chromium/chromedriver") else None)
    return (browser, driver) if browser and driver else None


def why_no_browser() -> str | None:
    """None when the browser tests can run, else the reason they cannot."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[test]')"
    if chromium_paths() is None:
        return "Debian's chromium and chromium-driver are not installed and could not be (make test installs them " \
               "with apt-get as root)"
    return None


def driver(size: tuple[int, int] = DESKTOP):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=zh-CN",
                f"--window-size={size[0]},{size[1]}", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    found = webdriver.Chrome(service=Service(chromedriver), options=options)
    found.set_window_size(*size)
    return found


class Server:
    """uvicorn in a thread on a free port, serving the app's ASGI routes (the console at /admin/)."""

    def __init__(self, app) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(build_asgi_app(app, []), log_level="warning", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the console server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
