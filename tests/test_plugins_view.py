"""``jiefang view`` on a scenario with a plug-in fleet and tier (the installed package
tests/plugins/jiefang_ambulance): the map draws the fleet's units, free and busy, whether
written on arrays or as Mesa agents, and the charts every tier of the tier table; then the
page in Debian's chromium comes up, steps, and neither the page nor the server reports an
error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import BaseModel

from sim.analysis.plots import tier_label
from sim.interface import app
from sim.model.fleets import register_fleet, unregister_fleet
from sim.model.response import ResponseModel
from tests.test_browser import CHROMIUM_FLAGS, chromium  # noqa: F401 (a fixture)
from tests.test_plugins import ambulance_scenario, as_agents
from tests.test_plugins_cli import SCENARIO
from tests.test_view import Server

pytestmark = pytest.mark.usefixtures("ambulance_plugin")


def _scatter(fig, prefix: str):
    """The map's one scatter whose legend label starts with ``prefix``."""
    (found,) = [c for c in fig.axes[0].collections if c.get_label().startswith(prefix)]
    return found


def _busy_model(sc) -> ResponseModel:
    """The model stepped until an ambulance is out and another free."""
    model = ResponseModel(sc, seed=2)
    for _ in range(24 * 60):
        model.step()
        _, busy = app.fleet_positions(model.fleets[0], model.time)
        if busy.any() and not busy.all():
            return model
    raise AssertionError("no minute with ambulances both busy and free")


@pytest.mark.parametrize("mesa_agents", [False, True], ids=["arrays", "mesa-agents"])
def test_the_map_draws_a_plug_in_fleets_units_free_and_busy(mesa_agents):
    base = ambulance_scenario(incidents={"rate_per_day": 400.0},
                              fleets={"ambulance": {"per_station": 2}})  # fmt: skip
    sc = as_agents(base) if mesa_agents else base
    model = _busy_model(sc)
    fleet = model.fleets[0]
    name = fleet.name.replace("_", " ")
    if mesa_agents:  # drawn from the agents' position and busy: the fleet has no positions()
        assert not hasattr(fleet, "positions")
        busy = np.array([a.busy for a in fleet.agents])
        xy = np.array([a.position for a in fleet.agents])
    else:
        busy, xy = fleet.busy.copy(), fleet.xy
    fig = app.city_figure(model)
    labels = app.legend_labels(fig)
    for word, flag in (("free", False), ("busy", True)):
        label = f"{name}: {word} ({int((busy == flag).sum())})"
        assert label in labels, labels
        drawn = _scatter(fig, label).get_offsets()
        np.testing.assert_allclose(drawn, xy[busy == flag] / 1000)
    assert f"{fleet.name}: {int(busy.sum())} busy of {len(busy)}" in app.fleet_texts(model)


class SirensConfig(BaseModel):
    pass


class Sirens:
    """The smallest fleet: it tells no positions and has no agents."""

    name = "sirens"
    Config = SirensConfig

    def __init__(self, model, config) -> None:
        pass

    def alert(self, t, incident, needed) -> None:
        pass

    def clear(self, t, incident) -> None:
        pass


def test_a_fleet_that_tells_no_positions_is_named_as_not_drawn():
    register_fleet(Sirens)
    try:
        model = ResponseModel(ambulance_scenario(fleets={"sirens": {}}), seed=0)
        model.run_for(3600.0)
        labels = app.legend_labels(app.city_figure(model))
        assert "sirens: not drawn (no positions)" in labels
        assert not [
            label for label in labels if label.startswith("sirens: ") and "(no" not in label
        ]
        busy = model.fleets[0].busy
        assert app.fleet_texts(model) == [f"ambulance: {busy.sum()} busy of {len(busy)}", "sirens"]
    finally:
        unregister_fleet("sirens")


def test_the_charts_show_every_tier_of_the_tier_table():
    sc = ambulance_scenario(incidents={"rate_per_day": 400.0})
    model = ResponseModel(sc, seed=1)
    for _ in range(6 * 60):
        model.step()
    wanted = [tier_label(t.name, sc.tiers) for t in sc.tiers]
    assert [t.name for t in sc.tiers] == ["police", "medical"]
    for figure in (app.compliance_figure, app.ecdf_figure):
        legend = figure(model).axes[0].get_legend()
        assert [t.get_text() for t in legend.get_texts()] == wanted, figure.__name__


@pytest.fixture
def ambulance_view(tmp_path):
    scenario = tmp_path / "ambulances.yaml"
    scenario.write_text(SCENARIO.replace("rate_per_day: 60", "rate_per_day: 2000"))
    server = Server(scenario, tmp_path / "server.log")  # finds the plug-in through PYTHONPATH
    yield server.url, server.log
    server.stop()


@pytest.mark.slow
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
        alts = page.locator("img").evaluate_all("images => images.map(i => i.alt)")
        browser.close()
    # Solara asks its CDN for optional scripts (KaTeX) that an offline machine cannot load.
    assert not [f for f in failures if "/_solara/cdn/" not in f], failures
    assert images >= 1
    assert "Traceback" not in text and "Error" not in text, text[-2000:]
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    # The map draws the ambulances (two stations, one each), the state line counts them, and
    # both charts name both tiers of the scenario's tier table, the plug-in's among them.
    (city,) = [a for a in alts if a.startswith("ambulances: day 1")]
    drawn = re.findall(r"ambulance: (free|busy) \((\d)\)", city)
    assert sorted(w for w, _ in drawn) == ["busy", "free"], city
    assert sum(int(n) for _, n in drawn) == 2, city
    assert re.search(r"ambulance: [0-2] busy of 2", text), text
    charts = [a for a in alts if a.startswith(("Tier compliance", "Response-time ECDF"))]
    assert len(charts) == 2, alts
    for chart in charts:
        assert "police on site (5 min" in chart and "medical (12 min" in chart, chart


def test_the_ecdf_names_a_tier_with_nothing_counted_yet():
    sc = ambulance_scenario(incidents={"rate_per_day": 400.0})
    model = ResponseModel(sc, seed=1)
    assert app.ecdf_figure(model).axes[0].get_legend() is None  # nothing counted: a note
    while not any(t.size for t in model.tier_times_so_far().values()):
        model.step()
    counted = {name: t.size > 0 for name, t in model.tier_times_so_far().items()}
    assert sorted(counted.values()) == [False, True]  # the first minute one tier has any
    legend = app.ecdf_figure(model).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        tier_label(t.name, sc.tiers) + ("" if counted[t.name] else ": none counted yet")
        for t in sc.tiers
    ]
