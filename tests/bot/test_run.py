"""`linli run` as a process: serves the WeChat callbacks and /healthz, stops cleanly on SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.support import ROOT, database_url

COMMUNITY = ROOT / "tests" / "bot" / "channels" / "fixtures" / "wechat_plain_community.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_serves_wechat_callbacks_until_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "LINLI_DATABASE_URL": database_url(tmp_path, "run.db"), "LINLI_TICK_SECONDS": "1",
           "LINLI_WECHAT_API_BASE": "http://127.0.0.1:9/"}
    env.pop("LINLI_TELEGRAM_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--community", str(COMMUNITY), "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("linli run did not come up")
        timestamp, nonce = "1700000000", "42"
        signature = hashlib.sha1("".join(sorted(["plaintoken", timestamp, nonce])).encode()).hexdigest()
        ok = httpx.get(f"{base}/wechat/wxplain", params={"signature": signature, "timestamp": timestamp,
                                                          "nonce": nonce, "echostr": "hello"})
        assert (ok.status_code, ok.text) == (200, "hello")
        forged = httpx.get(f"{base}/wechat/wxplain", params={"signature": "0" * 40, "timestamp": timestamp,
                                                              "nonce": nonce, "echostr": "hello"})
        assert forged.status_code == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
