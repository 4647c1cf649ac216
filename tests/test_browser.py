"""The HTML report in a real headless browser: Debian's chromium, driven by Playwright.

No browser is downloaded: Playwright launches /usr/bin/chromium. Where chromium is missing
and this runs as root on Debian (CI), the fixture installs Debian's package first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sim.interface.cli import main
from tests.conftest import SCENARIOS

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=600,
                       capture_output=True)  # fmt: skip
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, check=False,
                       timeout=1200, capture_output=True)  # fmt: skip
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed and cannot be installed here")
    return path


@pytest.mark.slow
def test_report_loads_without_console_errors_and_shows_its_figures(chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    out = tmp_path / "demo"
    assert main(["run", str(SCENARIOS / "demo.yaml"), "-q", "-r", "2", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    messages, failures = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: failures.append(str(e)))
        page.on("requestfailed", lambda r: failures.append(r.url))
        page.goto((out / "report.html").as_uri(), wait_until="load")
        shown = page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        title = page.title()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert not failures, failures
    assert not [m for m in messages if m[0] in ("error", "warning")], messages
    assert title == "jiefang report: demo"
    tiers = ["joint", "mutual", "police", "self"]  # the breakdown figures of issue 25
    assert sorted(a for a, _, _ in shown) == sorted(["by_kind", "city_map", "hour_profile",
                                                     "response_ecdf",
                                                     *(f"zones_{t}" for t in tiers),
                                                     *(f"hours_{t}" for t in tiers)])  # fmt: skip
    assert all(done and width > 300 for _, done, width in shown), shown
    assert (tmp_path / "report.png").stat().st_size > 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def view_server(tmp_path):
    """`jiefang view` on 127.0.0.1 with a busy demo (many incidents and probes, so a few steps
    show in the tier charts, which count sudden incidents and probes)."""
    scenario = tmp_path / "busy.yaml"
    scenario.write_text(f"extends: {SCENARIOS / 'demo.yaml'}\nname: busy-demo\n"
                        "incidents: {rate_per_day: 3000, probes_per_day: 3000, "
                        "hourly_profile: 1.0}\n")  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.interface.cli", "view", str(scenario), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, 9)
        pytest.fail("the view server did not start")
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def _images(page) -> list[str]:
    return page.evaluate("Array.from(document.images).map(i => i.src)")


@pytest.mark.slow
def test_view_steps_and_a_slider_change_state_and_charts(chromium, view_server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(view_server, wait_until="load")
        page.get_by_text("t = 0 min").wait_for(timeout=60_000)
        page.get_by_text("police units: 10").wait_for()
        before = _images(page)
        for minute in (1, 2, 3, 4, 5):
            page.get_by_role("button", name="Step").click()
            page.get_by_text(f"t = {minute} min").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        after = _images(page)
        state = page.get_by_text("incidents so far").inner_text()
        # The police-units slider, dragged to its right end, then Reset builds a new model.
        slider = page.locator(".v-input", has_text="Police units").locator(".v-slider")
        box = slider.bounding_box()
        slider.click(position={"x": box["width"] - 1, "y": box["height"] / 2})
        page.get_by_role("button", name="Reset").click()
        page.get_by_text("police units: 30").wait_for(timeout=30_000)
        page.get_by_text("t = 0 min").wait_for()
        page.get_by_role("button", name="Step").click()
        page.get_by_text("t = 1 min").wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        shot = tmp_path / "view.png"
        page.screenshot(path=str(shot))
        browser.close()
    assert len(before) == len(after) == 3  # city map, compliance chart, ECDF
    assert all(b != a for b, a in zip(before, after, strict=True)), "every chart changed"
    assert "incidents so far: 0 " not in state + " "
    if os.environ.get("JIEFANG_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, Path(__file__).resolve().parents[1] / "docs" / "img" / "view.png")
