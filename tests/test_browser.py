"""The HTML report in a real headless browser: Debian's chromium, driven by Playwright (the
browser view's tests, in tests/test_view.py, use this module's fixture).

No browser is downloaded: Playwright launches /usr/bin/chromium. Where chromium is missing
and this runs as root on Debian (CI), the fixture installs Debian's package first.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

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
