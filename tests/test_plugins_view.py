"""``jiefang view`` on a scenario with a plug-in fleet and tier (the installed package
tests/plugins/jiefang_ambulance), in Debian's chromium: the page comes up, steps, and
neither the page nor the server reports an error. Deliberately little about the page's
layout (the view is being reworked): what is checked is that a plug-in does not break it."""

from __future__ import annotations

import pytest

from tests.test_browser import CHROMIUM_FLAGS, chromium  # noqa: F401 (a fixture)
from tests.test_plugins_cli import SCENARIO
from tests.test_view import Server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ambulance_plugin")]


@pytest.fixture
def ambulance_view(tmp_path):
    scenario = tmp_path / "ambulances.yaml"
    scenario.write_text(SCENARIO.replace("rate_per_day: 60", "rate_per_day: 2000"))
    server = Server(scenario, tmp_path / "server.log")  # finds the plug-in through PYTHONPATH
    yield server.url, server.log
    server.stop()


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
