"""The browser view (`jiefang view`, sim/interface/app.py): its clock, sliders and map as
functions, then the served page in Debian's headless chromium driven by Playwright (the
`chromium` fixture of tests/test_browser.py: no browser is downloaded)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from sim.geo.scenario import load_scenario
from sim.interface import app
from sim.interface.cli import VIEW_STOP_S
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS
from tests.test_browser import CHROMIUM_FLAGS, chromium, free_port  # noqa: F401 (fixture)


# ------------------------------------------------------------------ clock, sliders, map
@pytest.mark.parametrize(
    ("t_s", "text"),
    [(0.0, "day 1, 00:00"), (59.9, "day 1, 00:00"), (86_399.0, "day 1, 23:59"),
     (86_400.0, "day 2, 00:00"), (487_380.0, "day 6, 15:23")],
)  # fmt: skip
def test_clock_is_day_and_hour_of_day(t_s, text):
    assert app.clock_text(t_s) == text


def test_minutes_name_the_warm_up_the_run_and_the_drain():
    model = ResponseModel(load_scenario(SCENARIOS / "demo.yaml"), seed=0)
    end = int(model.end_s // 60)
    warm = int(model.warmup_s // 60)
    assert app.minutes_text(model) == f"minute 0 of {end:,} (warm-up until minute {warm:,})"
    model.advance_to(model.warmup_s)
    assert app.minutes_text(model) == f"minute {warm:,} of {end:,}"
    model.advance_to(model.horizon_s)
    assert app.minutes_text(model).endswith("(no new incidents: draining)")


def test_every_slider_label_shows_its_value_and_unit():
    demo = load_scenario(SCENARIOS / "demo.yaml")
    knobs = {k.key: k for k in app.knobs(demo)}
    assert knobs["police_units"].text(30) == "Police units: 30 on duty"
    assert knobs["volunteers"].text(3941) == "Volunteers: 3,941 registered"
    assert knobs["rate_per_day"].text(37.44) == "Incidents: 37.4 a day"
    assert knobs["police_units"].value == demo.police.units
    assert knobs["police_units"].top == 3 * demo.police.units
    # Probe emergencies are sudden incidents: no slider where no kind is sudden.
    assert ("probes_per_day" in knobs) == any(k.sudden for k in demo.incidents.kinds.values())
    assert app.model_defaults(demo) == {**{k: v.value for k, v in knobs.items()}, "seed": 0}


@pytest.mark.parametrize("name", ["demo", "helsinki", "guangzhou-2023-subdistrict"])
@pytest.mark.parametrize("rate", [None, 0.0, 3000.0, 2.5])
def test_a_slider_starts_on_one_of_its_steps(name, rate):
    """A slider snaps to its steps: a scenario value between two would be changed unasked."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    if rate is not None:
        scenario = scenario.with_changes({"incidents.rate_per_day": rate})
    for knob in app.knobs(scenario):
        steps = knob.value / knob.step
        assert steps == pytest.approx(round(steps), abs=1e-9), knob
        assert 0 <= knob.value <= knob.top, knob


def test_the_map_shows_the_whole_city_with_a_legend_of_what_is_drawn():
    model = app.ViewModel()  # scenarios/demo.yaml: no road network
    for _ in range(30):
        model.step()
    fig = app.city_figure(model)
    ax = fig.axes[0]
    w_km, h_km = model.city.extent_m[0] / 1000, model.city.extent_m[1] / 1000
    assert ax.get_xlim() == (0, w_km) and ax.get_ylim() == (h_km, 0)
    labels = app.legend_labels(fig)
    k = app._stride(model.city)
    present = {
        app.LandUse(c).label.replace("_", " ") for c in np.unique(model.city.land_use[::k, ::k])
    }
    assert present <= set(labels)
    assert {"police station", "MEU site", "open incident", "police unit: available"} <= set(labels)
    assert not any(label.startswith("street") for label in labels)
    assert len(app.street_segments(model.city)) == 0


def test_streets_are_drawn_once_each_for_a_road_network():
    model = ResponseModel(load_scenario(SCENARIOS / "helsinki.yaml"), seed=0)
    segments = app.street_segments(model.city)
    graph = model.city.roads.graph
    assert (graph != graph.T).nnz == 0 and graph.diagonal().sum() == 0
    assert len(segments) == graph.nnz // 2 > 1000
    nodes = {tuple(p) for p in np.round(model.city.roads.node_xy / 1000, 9)}
    assert {tuple(p) for p in np.round(segments.reshape(-1, 2), 9)} <= nodes
    assert f"street ({len(segments):,})" in app.legend_labels(app.city_figure(model))


def test_a_dropped_view_model_is_counted_as_released():
    before = app.models_in_memory()
    model = app.ViewModel(police_units=3)
    assert len(model.police) == 3
    assert app.models_in_memory() == before + 1
    del model
    assert app.models_in_memory() == before


# ------------------------------------------------------------------ the served page
class Server:
    """`jiefang view SCENARIO` on 127.0.0.1 in its own process group, its output in a file.

    ``command`` is the `jiefang` to run (default: this interpreter's ``-m sim``); ``cwd`` and
    ``env`` are the process's (an installed wheel's venv, a folder outside the repository)."""

    def __init__(self, scenario: Path | str, log: Path, *, command: list[str] | None = None,
                 cwd: Path | None = None, env: dict[str, str] | None = None):  # fmt: skip
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        jiefang = command or [sys.executable, "-m", "sim"]
        self.proc = subprocess.Popen(
            [*jiefang, "view", str(scenario), "--port", str(self.port)], cwd=cwd, env=env,
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"the view server did not start:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text()

    def wait_for_line(self, pattern: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(pattern, self.text())
            if found:
                return found[-1]
            time.sleep(0.2)
        raise AssertionError(f"no {pattern!r} in the server's output:\n{self.text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def busy_scenario(folder: Path) -> Path:
    """A busy demo (many incidents and probes, so a few steps show in the tier charts)."""
    scenario = folder / "busy.yaml"
    scenario.write_text(f"extends: {SCENARIOS / 'demo.yaml'}\nname: busy-demo\n"
                        "incidents: {rate_per_day: 3000, probes_per_day: 3000, "
                        "hourly_profile: 1.0}\n")  # fmt: skip
    return scenario


@pytest.fixture(scope="module")
def busy_view(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view")
    server = Server(busy_scenario(folder), folder / "server.log")
    yield server
    server.stop()


@pytest.fixture
def own_view(tmp_path):
    """A server of this test's alone: its session and model counts are this test's (pages
    other tests left open on the shared one would count too)."""
    server = Server(busy_scenario(tmp_path), tmp_path / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def open_page(browser, url: str, problems: list | None = None):
    """A page in a browser context of its own (its own cookies: another person)."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    if problems is not None:
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(r.url))
        page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.get_by_text("minute 0 of").wait_for(timeout=60_000)
    return page


def step(page, minute: int) -> None:
    page.get_by_role("button", name="Step").click()
    page.get_by_text(f"minute {minute} of").wait_for(timeout=30_000)


def minute_shown(page) -> int:
    text = page.get_by_text(re.compile(r"^minute [\d,]+ of")).inner_text()
    return int(text.split()[1].replace(",", ""))


def close_tab(page) -> None:
    page.close(run_before_unload=True)  # as a person closes it: the page says goodbye
    page.context.close()


@pytest.mark.slow
def test_two_sessions_move_independently_and_a_closed_one_is_released(browser, own_view):
    busy_view = own_view
    opened = len(re.findall("session opened", busy_view.text()))
    first = open_page(browser, busy_view.url)
    second = open_page(browser, busy_view.url)
    for minute in (1, 2, 3):
        step(first, minute)
    second.wait_for_timeout(500)
    assert minute_shown(second) == 0
    step(second, 1)  # its own model: minute 1, not 4
    first.wait_for_timeout(500)
    assert (minute_shown(first), minute_shown(second)) == (3, 1)
    assert len(re.findall("session opened", busy_view.text())) == opened + 2
    close_tab(second)
    line = busy_view.wait_for_line(r"session closed \((\d+) open; models in memory: (\d+)\)")
    assert line == ("1", "1")  # the first session's model only
    close_tab(first)
    line = busy_view.wait_for_line(r"session closed \(0 open; models in memory: (\d+)\)")
    assert line == "0"


@pytest.mark.slow
def test_clock_sliders_and_charts_show_values_and_units(browser, busy_view, tmp_path):
    page = open_page(browser, busy_view.url)
    sliders = page.locator(".v-input", has=page.locator(".v-slider"))
    labels = [s.inner_text().strip() for s in sliders.all()]
    assert "Police units: 10 on duty" in labels
    value_and_unit = re.compile(r"^[A-Z][\w ]+: [\d,.]+ [a-z]")
    assert len(labels) == 7 and all(value_and_unit.match(t) for t in labels), labels
    assert page.get_by_text("day 1, 00:00").first.is_visible()
    assert "Time:" not in page.inner_text("body")
    images = page.evaluate("Array.from(document.images).map(i => i.src)")
    for minute in (1, 2, 3, 4, 5):
        step(page, minute)
    assert page.get_by_text("day 1, 00:05").first.is_visible()
    page.wait_for_timeout(500)
    after = page.evaluate("Array.from(document.images).map(i => i.src)")
    assert len(images) == len(after) == 3  # city map, compliance chart, ECDF
    assert all(b != a for b, a in zip(images, after, strict=True)), "every chart changed"
    assert "incidents so far: 0 " not in page.get_by_text("incidents so far").inner_text() + " "
    # The police-units slider, dragged to its right end, says so; Reset builds a new model.
    slider = sliders.filter(has_text="Police units").locator(".v-slider")
    box = slider.bounding_box()
    slider.click(position={"x": box["width"] - 1, "y": box["height"] / 2})
    page.get_by_text("Police units: 30 on duty").wait_for(timeout=10_000)
    page.get_by_role("button", name="Reset").click()
    page.get_by_text(re.compile(r"\| police units: 30 \|")).wait_for(timeout=30_000)
    page.get_by_text("minute 0 of").wait_for(timeout=10_000)  # the widgets update one by one
    step(page, 1)
    page.get_by_role("button", name="Play").click()
    page.get_by_text("minute 4 of").wait_for(timeout=60_000)
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for(timeout=10_000)
    page.set_viewport_size({"width": 1400, "height": 1350})  # map and charts in one picture
    page.wait_for_timeout(1000)
    shot = tmp_path / "view.png"
    page.screenshot(path=str(shot))
    close_tab(page)
    if os.environ.get("JIEFANG_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, Path(__file__).resolve().parents[1] / "docs" / "img" / "view.png")


@pytest.mark.slow
def test_page_loads_cleanly_with_the_whole_city_and_its_legend(browser, busy_view):
    problems: list = []
    page = open_page(browser, busy_view.url, problems)
    step(page, 1)
    page.wait_for_timeout(500)
    city = page.locator("img[alt^='busy-demo: day 1, 00:01']")
    alt = city.get_attribute("alt")
    fit = city.evaluate("""i => { const r = i.getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight,
                r.width / r.height, i.naturalWidth / i.naturalHeight]; }""")
    close_tab(page)
    assert not problems, problems  # no 404 (the front end is served offline), no JS error
    assert "New version of Solara" not in busy_view.text()  # no upgrade prompt
    assert "samesite" not in busy_view.text()
    legend = alt.split("Legend: ")[1].split("; ")
    assert {"police station", "MEU site", "open incident", "water"} <= set(legend), legend
    left, top, right, bottom, width, height, shown, natural = fit
    # Page scrolled to the top: the whole map is in the window, neither cropped nor squeezed.
    assert 0 <= left < right <= width and 0 <= top < bottom <= height, fit
    assert shown == pytest.approx(natural, rel=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM"])
def test_streets_on_the_map_and_the_server_stops_while_a_page_plays(browser, tmp_path, how):
    server = Server(SCENARIOS / "helsinki.yaml", tmp_path / "server.log")
    try:
        page = open_page(browser, server.url)
        alt = page.locator("img[alt^='helsinki: day 1']").get_attribute("alt")
        page.get_by_role("button", name="Play").click()
        page.get_by_text("minute 1 of").wait_for(timeout=30_000)
        started = time.monotonic()
        if how == "ctrl-c":  # the terminal sends SIGINT to the whole process group
            os.killpg(server.proc.pid, signal.SIGINT)
        else:  # a service manager stops jiefang view alone
            os.kill(server.proc.pid, signal.SIGTERM)
        code = server.proc.wait(timeout=VIEW_STOP_S + 20)
        took = time.monotonic() - started
        page.context.close()
    finally:
        server.stop()
    assert re.search(r"Legend: .*street \(1,\d{3}\)", alt), alt
    assert code == 0
    assert took < VIEW_STOP_S + 10
    assert server.text().rstrip().endswith("jiefang view: stopped")
