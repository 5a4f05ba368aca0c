"""`linli console` as a process: serves the console alone for a database and prints a sign-in link."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.support import COMMUNITY, ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_console_command_serves_a_database_and_prints_a_link(tmp_path):
    db = tmp_path / "sim.db"
    events = tmp_path / "events.jsonl"
    events.write_text('{"at": "2026-03-02T09:00:00+08:00", "from": "r_sun", "text": "8号楼电梯坏了，停在5楼不动"}\n',
                      encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LINLI_PUBLIC_URL", None)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "simulate", "--community", str(COMMUNITY), "--db", str(db),
                           str(events)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "console", "--community", str(COMMUNITY), "--db", str(db),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    try:
        lines, deadline = [], time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "token=" in line or proc.poll() is not None:
                break
        link = re.search(r"(http://127\.0\.0\.1:\d+/admin/login\?token=\S+)", "".join(lines))
        assert link, "".join(lines) + proc.stderr.read() if proc.poll() is not None else "".join(lines)
        assert f"console: http://127.0.0.1:{port}/admin/" in "".join(lines)
        with httpx.Client() as client:
            assert client.get(f"http://127.0.0.1:{port}/admin/").status_code == 401
            assert client.get(link.group(1)).status_code == 303  # to the list, signed in
            tickets = client.get(f"http://127.0.0.1:{port}/admin/api/tickets").json()["tickets"]
            assert [(t["id"], t["type_name"], t["assignee_name"]) for t in tickets] == [(1, "电梯", "楼栋长韩梅")]
            assert client.get(f"http://127.0.0.1:{port}/healthz").json()["ok"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
