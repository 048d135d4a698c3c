"""The HTML report in a real headless Chromium, driven over the DevTools protocol: it
loads with no console errors, search and highlight work, an edge shows its evidence and
review status, and a screenshot is taken (kept next to the test's tmp files)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from s3lineage.cli import main

from .audit_helpers import DIM_ACCOUNTS, PG, SF, demo_copy, run_audited
from .conftest import ROOT

pytestmark = pytest.mark.slow
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    script = ROOT / "scripts" / "ensure_chromium.sh"
    if os.geteuid() == 0 and script.exists():  # install it as CI would (Debian's package)
        subprocess.run(["bash", str(script)], check=False, timeout=900)
    return shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """The few DevTools protocol calls the test needs, over one page's websocket."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", "")[:500])
        return found


@pytest.fixture
def browser(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed and could not be (scripts/ensure_chromium.sh)")
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                port = int(match.group(1))
            elif not line and process.poll() is not None:
                break
        if port is None:
            pytest.fail("chromium did not start its DevTools endpoint")
        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(p for p in pages if p["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Page"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.ws.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _click(tools: DevTools, x: float, y: float) -> None:
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        tools.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def test_report_in_headless_chromium(tmp_path, browser):
    config = demo_copy(tmp_path)
    run_audited(config)
    assert main(["review", "reject", DIM_ACCOUNTS, "--note", "MERGE into a scratch copy",
                 "--config", str(config)]) == 0
    report = tmp_path / "report.html"
    assert main(["report", "--config", str(config), "-o", str(report)]) == 0

    browser.call("Page.navigate", url=report.as_uri())
    browser.wait_for("document.body && document.body.getAttribute('data-ready') === '1'")
    assert browser.js("document.querySelectorAll('.node').length") == 24
    assert browser.js("document.querySelectorAll('.edge').length") == 20
    assert browser.js("[...document.querySelectorAll('.band text')].map(t => t.textContent)") == [
        "PostgreSQL", "S3", "Snowflake"]
    assert browser.js(f"document.querySelector('.edge[data-id=\"{DIM_ACCOUNTS}\"]').classList.contains('rejected')")

    # type a column into the search box, as a person would, and press Enter
    browser.js("document.getElementById('search').focus()")
    browser.call("Input.insertText", text="appdb.public.users.email")
    browser.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13)
    browser.wait_for("document.body.getAttribute('data-selected') !== null")
    classes = browser.js("Object.fromEntries([...document.querySelectorAll('.node')].map("
                         "n => [n.dataset.id, [...n.classList].filter(c => c !== 'node')]))")
    assert "seed" in classes[PG + "users"]
    assert "down" in classes[SF + "RAW.LANDING.USERS"] and "down" in classes[SF + "ANALYTICS.MARTS.DIM_USERS"]
    assert "dim" in classes[PG + "merchants"]
    paths = browser.js("[...document.querySelectorAll('#panel li.colpath')].map(li => li.textContent)")
    assert any(p.endswith("ANALYTICS.MARTS.DIM_USERS.EMAIL") and "RAW.LANDING.USERS.EMAIL" in p for p in paths)

    # a dataset search highlights upstream too
    browser.js("window.s3lineageReport.search('ANALYTICS.MARTS.FACT_TRANSACTIONS')")
    assert "up" in browser.js(f"[...document.querySelector('.node[data-id=\"{PG}merchants\"]').classList]")

    # click the rejected edge (a real mouse click at a point of its line)
    point = browser.js(f"""(() => {{
        const g = document.querySelector('.edge[data-id="{DIM_ACCOUNTS}"]');
        g.scrollIntoView({{block: 'center', inline: 'center'}});
        const path = g.querySelector('path.hit');
        const p = path.getPointAtLength(path.getTotalLength() * 0.5).matrixTransform(path.getScreenCTM());
        const hit = document.elementFromPoint(p.x, p.y);
        return {{x: p.x, y: p.y, on: hit && hit.closest('.edge') && hit.closest('.edge').dataset.id}};
    }})()""")
    assert point["on"] == DIM_ACCOUNTS, point
    _click(browser, point["x"], point["y"])
    browser.wait_for(f"document.body.getAttribute('data-selected') === {json.dumps(DIM_ACCOUNTS)}")
    panel = browser.js("document.getElementById('panel').innerText")
    assert "rejected" in panel and "MERGE into a scratch copy" in panel
    assert "confidence" in panel and "common/merge" in panel and "MERGE INTO" in panel

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    assert shot.startswith(b"\x89PNG") and len(shot) > 20_000
    target = Path(os.environ.get("S3LINEAGE_SCREENSHOT", tmp_path / "report.png"))
    target.write_bytes(shot)
    assert browser.errors() == []
