"""WebSub push latency: from a hub's delivery to the alert reaching a notifier.

    python bench/push.py               # 20 pushes
    python bench/push.py --pushes 50

Everything runs on 127.0.0.1: a feed server whose feed names a hub, a small hub
(it accepts the subscription, checks it with a challenge at the callback, then
POSTs signed deliveries), a webhook receiver that notes when each alert arrives,
and the real daemon (`python -m monitor run`) in a temp folder, with `http:` as
the callback and one rule. Each push is one new matching item, sent after the
last alert arrived; its latency runs from just before the hub's POST to the
webhook's receipt of the alert (parse, seen, match, record, queue, dispatch,
send). Prints the median, p90 and worst, in milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RULE = "id: nvidia\ntitle: Nvidia\nseverity: medium\nquery: nvidia\n"


def feed(items: list[int]) -> bytes:
    entries = "".join(
        f"<item><title>Nvidia story {i}</title><link>https://news.example/{i}</link>"
        f'<guid isPermaLink="false">g{i}</guid><pubDate>{formatdate(usegmt=True)}</pubDate></item>'
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://example.org/</link><description>d</description>{entries}</channel></rss>"
    ).encode()


class State:
    """What the servers share with the bench: the subscription and the alerts' arrivals."""

    def __init__(self) -> None:
        self.subscription: dict[str, str] = {}
        self.confirmed = threading.Event()
        self.arrived: dict[str, float] = {}  # item title -> perf_counter at receipt
        self.hub = self.feed = ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
                ) -> None:  # fmt: skip
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # the feed
        state: State = self.server.state  # type: ignore[attr-defined]
        link = f'<{state.hub}>; rel="hub", <{state.feed}>; rel="self"'
        self._answer(200, feed([0]), {"Content-Type": "application/rss+xml", "Link": link})

    def do_POST(self) -> None:
        state: State = self.server.state  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/hook":
            title = json.loads(raw).get("title", "")
            state.arrived[title] = time.perf_counter()
            self._answer(200, b"ok")
            return
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        self._answer(202)
        threading.Thread(target=verify, args=(state, form), daemon=True).start()


def verify(state: State, form: dict[str, str]) -> None:
    asked = {"hub.mode": "subscribe", "hub.topic": form["hub.topic"], "hub.challenge": "c1"}
    query = urllib.parse.urlencode(asked | {"hub.lease_seconds": "3600"})
    with urllib.request.urlopen(f"{form['hub.callback']}?{query}", timeout=10) as reply:
        if reply.read() == b"c1":
            state.subscription = form
            state.confirmed.set()


def deliver(state: State, body: bytes) -> int:
    sub = state.subscription
    signature = hmac.new(sub["hub.secret"].encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        sub["hub.callback"], data=body, method="POST",
        headers={"Content-Type": "application/rss+xml", "X-Hub-Signature": f"sha256={signature}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(reply.status)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(folder: Path, base: str, port: int) -> None:
    (folder / "rules").mkdir()
    (folder / "rules" / "nvidia.yaml").write_text(RULE)
    (folder / "config.yaml").write_text(
        json.dumps({
            "state": "sqlite:///state/m.db", "rules": ["rules/"], "http": f"127.0.0.1:{port}",
            "push": {"callback": f"http://127.0.0.1:{port}/websub"},
            "defaults": {"notify": ["hook"], "dispatch_interval": "5s"},
            "sources": [{"id": "feed", "type": "rss", "url": base + "/feed.xml", "interval": "2s"}],
            "notifiers": [{"id": "hook", "type": "webhook", "url": base + "/hook"}],
        })  # JSON is YAML
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20)
    args = parser.parse_args()
    state = State()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.state = state  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    state.hub, state.feed = base + "/hub", base + "/feed.xml"
    latencies = []
    with tempfile.TemporaryDirectory() as temp:
        folder, port = Path(temp), free_port()
        config(folder, base, port)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(folder / "config.yaml")],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        try:
            if not state.confirmed.wait(30):
                print("the daemon never subscribed", file=sys.stderr)
                return 1
            for i in range(1, args.pushes + 1):
                title = f"Nvidia story {i}"
                sent = time.perf_counter()
                deliver(state, feed([i]))
                deadline = sent + 10
                while title not in state.arrived and time.perf_counter() < deadline:
                    time.sleep(0.0005)
                if title not in state.arrived:
                    print(f"push {i}: no alert within 10 s", file=sys.stderr)
                    return 1
                latencies.append((state.arrived[title] - sent) * 1000)
        finally:
            daemon.terminate()
            daemon.wait(20)
            server.shutdown()
    ordered = sorted(latencies)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    print(f"| pushes | median | p90 | worst |\n| --- | --- | --- | --- |\n"
          f"| {len(latencies)} | {statistics.median(latencies):.1f} ms | {p90:.1f} ms"
          f" | {ordered[-1]:.1f} ms |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
