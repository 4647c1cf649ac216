"""``jiefang view`` on a scenario with a plug-in fleet and tier (the installed package
tests/plugins/jiefang_ambulance), in Debian's chromium: the page comes up, steps, and
neither the page nor the server reports an error. Deliberately little about the page's
layout (the view is being reworked): what is checked is that a plug-in does not break it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.test_browser import CHROMIUM_FLAGS, chromium, free_port  # noqa: F401 (a fixture)
from tests.test_plugins_cli import SCENARIO

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ambulance_plugin")]


@pytest.fixture
def ambulance_view(tmp_path):
    scenario = tmp_path / "ambulances.yaml"
    scenario.write_text(SCENARIO.replace("rate_per_day: 60", "rate_per_day: 2000"))
    log = tmp_path / "server.log"
    port = free_port()
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim", "view", str(scenario), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
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
        pytest.fail(f"the view server did not start: {log.read_text()[-2000:]}")
    yield url, log
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def test_the_view_runs_a_scenario_with_a_plug_in_fleet(chromium, ambulance_view):  # noqa: F811
    from playwright.sync_api import sync_playwright

    url, log = ambulance_view
    failures: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: failures.append(str(e)))
        page.goto(url, wait_until="load")
        page.locator("img").first.wait_for(timeout=60_000)
        step = page.get_by_role("button", name="Step")
        if step.count():
            for _ in range(5):
                step.first.click()
                page.wait_for_timeout(500)
        page.wait_for_timeout(2000)
        text = page.locator("body").inner_text()
        images = page.evaluate("document.images.length")
        browser.close()
    # Solara asks its CDN for optional scripts (KaTeX) that an offline machine cannot load.
    assert not [f for f in failures if "/_solara/cdn/" not in f], failures
    assert images >= 1
    assert "Traceback" not in text and "Error" not in text, text[-2000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
