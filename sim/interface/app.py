"""The browser view: Mesa's SolaraViz over the unchanged ResponseModel.

    jiefang view [SCENARIO.yaml]
    JIEFANG_VIEW_SCENARIO=... solara run sim/interface/app.py     # the same, by hand

Sliders set volunteer count, MEU count, police units and the incident rate; Reset builds the
model again with them. Each Step advances one simulated minute. At city scale the layers are
drawn coarser (the land-use raster subsampled to at most 200 x 200 cells, volunteers as a
density raster, at most 3,000 MEU sites drawn) so that a step stays interactive.
"""

from __future__ import annotations

import json
import os

import numpy as np
import solara
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz, make_plot_component
from mesa.visualization.utils import update_counter

from sim.analysis.plots import step_ecdf, tier_colour, tier_label
from sim.model.config import load_scenario
from sim.model.responders.police import PoliceUnit
from sim.model.response import ResponseModel
from sim.model.vocab import UnitState

DEFAULT_SCENARIO = "demo"  # a shipped scenario by name (sim.model.catalogue)
SCENARIO = os.environ.get("JIEFANG_VIEW_SCENARIO", DEFAULT_SCENARIO)
#: `jiefang view --set KEY=VALUE`, passed on as JSON [[key, value], ...] (checked there).
OVERRIDES = [(k, v) for k, v in json.loads(os.environ.get("JIEFANG_VIEW_SET", "[]"))]
MAX_CELLS = 200
MAX_SITES = 3000
LAND_COLOURS = [
    "#f2f2f2",
    "#d9c7a6",
    "#b3d9a6",
    "#e6c27a",
    "#d9a6c7",
    "#c7a6d9",
    "#cccccc",
    "#f2b3b3",
    "#9ecae1",
    "#6b6b6b",
]
UNIT_COLOURS = {
    UnitState.AVAILABLE: "#009E73",
    UnitState.EN_ROUTE: "#E69F00",
    UnitState.ON_SCENE: "#D55E00",
}


class ViewModel(ResponseModel):
    """ResponseModel with the view's sliders as keyword arguments (nothing else changes).

    Args:
        volunteers: registered volunteers (count).
        meus: minimal emergency units (count).
        police_units: police patrol units on duty (count).
        rate_per_day: incidents per day over the whole area.
        probes_per_day: probe emergencies per day (the tier charts count sudden incidents and
            probes; real sudden incidents are rare in a sub-district).
        seed: base seed (int >= 0).
    """

    def __init__(self, volunteers=None, meus=None, police_units=None, rate_per_day=None,
                 probes_per_day=None, seed=0):  # fmt: skip
        base = load_scenario(SCENARIO, overrides=OVERRIDES)
        changes = {
            "volunteers.count": volunteers,
            "meus.count": meus,
            "police.units": police_units,
            "incidents.rate_per_day": rate_per_day,
            "incidents.probes_per_day": probes_per_day,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        super().__init__(base.with_changes(changes) if changes else base, seed=int(seed or 0))


def _stride(city) -> int:
    return max(1, int(np.ceil(max(city.width, city.height) / MAX_CELLS)))


def city_figure(model: ResponseModel) -> Figure:
    """Land use and water; on-duty volunteers as density; MEU sites; police units by state;
    open incidents coloured by how long they have waited."""
    city, t = model.city, model.time
    k = _stride(city)
    w_km, h_km = city.extent_m[0] / 1000, city.extent_m[1] / 1000
    fig = Figure(figsize=(7, 7 * h_km / max(w_km, 1e-9) + 0.6), dpi=90)
    ax = fig.subplots()
    extent = (0, w_km, h_km, 0)
    ax.imshow(
        city.land_use[::k, ::k],
        cmap=ListedColormap(LAND_COLOURS),
        vmin=0,
        vmax=9,
        extent=extent,
        interpolation="nearest",
    )
    vol = model.volunteers
    if len(vol):
        hour = int(t // 3600) % 24
        free = vol.on_duty(hour) & (vol.busy_until <= t)
        dens, _, _ = np.histogram2d(
            vol.home_xy[free, 1],
            vol.home_xy[free, 0],
            bins=(max(city.height // k, 1), max(city.width // k, 1)),
            range=((0, city.extent_m[1]), (0, city.extent_m[0])),
        )
        ax.imshow(
            np.where(dens > 0, dens, np.nan),
            cmap="Blues",
            alpha=0.55,
            extent=extent,
            interpolation="nearest",
        )
    if len(model.meus):
        idx = np.linspace(0, len(model.meus) - 1, min(len(model.meus), MAX_SITES)).astype(int)
        ax.scatter(
            model.meus.xy[idx, 0] / 1000,
            model.meus.xy[idx, 1] / 1000,
            s=5,
            c="#CC79A7",
            label="MEU site",
            linewidths=0,
        )
    ax.scatter(
        city.station_xy[:, 0] / 1000,
        city.station_xy[:, 1] / 1000,
        marker="^",
        s=45,
        c="black",
        label="police station",
    )
    units = list(model.agents_by_type[PoliceUnit]) if PoliceUnit in model.agents_by_type else []
    pos = np.array([u.position for u in units]).reshape(-1, 2)
    states = [u.state for u in units]
    for state, colour in UNIT_COLOURS.items():
        at = np.array([s is state for s in states], bool)
        if at.any():
            ax.scatter(
                pos[at, 0] / 1000,
                pos[at, 1] / 1000,
                s=22,
                c=colour,
                marker="s",
                label=f"police: {state.value.replace('_', ' ')}",
            )
    n = int(np.searchsorted(model.incidents.occurred_s, t, side="right"))
    open_ = np.flatnonzero(np.isnan(model.ledger.cleared_s[:n]))
    if open_.size:
        waited = (t - model.incidents.occurred_s[open_]) / 60
        sc = ax.scatter(
            model.incidents.xy[open_, 0] / 1000,
            model.incidents.xy[open_, 1] / 1000,
            c=np.minimum(waited, 30),
            cmap="Reds",
            vmin=0,
            vmax=30,
            s=70,
            marker="*",
            edgecolors="black",
            linewidths=0.4,
            label="open incident",
        )
        fig.colorbar(sc, ax=ax, shrink=0.7, label="open incident: minutes since it happened")
    ax.set_xlim(0, w_km)
    ax.set_ylim(h_km, 0)
    ax.set_xlabel("km east")
    ax.set_ylabel("km south")
    ax.legend(loc="lower left", fontsize=7, framealpha=0.85)
    ax.set_title(
        f"{model.config.name}: t = {t / 60:.0f} min, {n} incidents, {open_.size} open", fontsize=10
    )
    fig.tight_layout()
    return fig


def ecdf_figure(model: ResponseModel) -> Figure:
    """Response-time ECDF of the incidents so far, with the 1/3/5-minute marks."""
    fig = Figure(figsize=(6, 3.6), dpi=90)
    ax = fig.subplots()
    tiers = model.config.tiers
    for tier in tiers:
        t = model.tier_times_so_far()[tier.name]
        if not t.size:
            continue
        colour = tier_colour(tier.name, tiers)
        step_ecdf(ax, t / 60, 20.0, color=colour, label=tier_label(tier.name, tiers))
        ax.axvline(tier.target_s / 60, color=colour, ls="--", lw=0.8)
    ax.set_xlim(0, 20)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("minutes on each tier's clock")
    ax.set_ylabel("share helped so far")
    ax.set_title("Response-time ECDF so far", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# Mesa's controller bumps `update_counter` after each step; reading it subscribes a
# component to re-render then (the model object itself stays the same).
@solara.component
def CityView(model):
    update_counter.get()
    solara.FigureMatplotlib(city_figure(model), format="png")


@solara.component
def EcdfView(model):
    update_counter.get()
    solara.FigureMatplotlib(ecdf_figure(model), format="png")


@solara.component
def StateText(model):
    update_counter.get()
    counts = model.live_counts()
    solara.Markdown(
        f"**t = {model.time / 60:.0f} min** | incidents so far: {counts['incidents']} | "
        f"open: {counts['open']} | volunteers: {len(model.volunteers)} | MEUs: "
        f"{len(model.meus)} | police units: {len(model.police)} | calls waiting: "
        f"{model.calls_waiting()}"
    )


def model_params(model: ResponseModel) -> dict:
    """Sliders from 0 to three times the scenario's value, in whole steps for counts."""
    sc = model.config

    def count(label: str, value: int, floor: int) -> Slider:
        return Slider(label, value, 0, max(3 * value, floor), 1)

    rate = float(sc.incidents.rate_per_day)
    probes = float(sc.incidents.probes_per_day)
    params = {
        "volunteers": count("Volunteers", sc.volunteers.count, 100),
        "meus": count("MEUs", sc.meus.count, 20),
        "police_units": count("Police units", sc.police.units, 10),
        "rate_per_day": Slider(
            "Incidents per day", rate, 0.0, max(3 * rate, 10.0), max(round(rate * 3 / 100, 1), 0.1)
        ),
        "probes_per_day": Slider(
            "Probe emergencies per day", probes, 0.0, max(3 * probes, 48.0), 1.0
        ),
        "seed": 0,
    }
    if not any(k.sudden for k in sc.incidents.kinds.values()):
        del params["probes_per_day"]  # probes are sudden incidents: nothing to probe with
    return params


def page_for(model: ResponseModel):
    tiers = model.config.tiers
    compliance = make_plot_component(
        {f"{t.name} <= {t.target_s / 60:g} min": tier_colour(t.name, tiers) for t in tiers}
    )
    return SolaraViz(
        model,
        components=[(StateText, 0), (CityView, 0), compliance, (EcdfView, 0)],
        model_params=model_params(model),
        name=f"jiefang: {model.config.name}",
    )


model = ViewModel()
page = page_for(model)
