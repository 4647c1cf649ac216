"""The browser view: the unchanged ResponseModel stepped in the browser (Solara, with Mesa's
view plumbing), one model per browser session.

    jiefang view [SCENARIO.yaml]
    JIEFANG_VIEW_SCENARIO=... solara run sim/interface/app.py     # the same, by hand

Each browser session (a tab, a window, another person) gets its own model when its page
opens; Step, Play and Reset act on that model alone, and the model is released when the
session ends (the tab closed, or its connection gone for :data:`CULL_TIMEOUT`). The server
says on its standard output when a session opens and closes and how many models it holds.

The sliders set volunteer count, MEU count, police units and the incident rates; Reset builds
the session's model again with them. Each Step advances one simulated minute. At city scale
the layers are drawn coarser (the land-use raster subsampled to at most 200 x 200 cells,
volunteers as a density raster, at most 3,000 MEU sites drawn) so that a step stays
interactive.
"""

from __future__ import annotations

import base64
import functools
import gc
import io
import json
import os
import sys
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import solara
import solara.lab
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from mesa.visualization.utils import force_update, update_counter
from solara.server.kernel_context import without_context

from sim.analysis.plots import step_ecdf, tier_colour, tier_label
from sim.geo.scenario import load_scenario
from sim.model.config import Scenario
from sim.model.fleets import fleet_positions
from sim.model.responders.police import PoliceUnit
from sim.model.response import ResponseModel
from sim.model.vocab import LandUse, UnitState

DEFAULT_SCENARIO = "demo"  # a shipped scenario by name (sim.model.catalogue)
SCENARIO = os.environ.get("JIEFANG_VIEW_SCENARIO", DEFAULT_SCENARIO)
#: `jiefang view --set KEY=VALUE`, passed on as JSON [[key, value], ...] (checked there).
OVERRIDES = [(k, v) for k, v in json.loads(os.environ.get("JIEFANG_VIEW_SET", "[]"))]
#: A session whose browser vanished without closing its tab (a crash, a lost network) keeps
#: its model this long for a reconnect, then is ended (Solara's default is 24 h).
CULL_TIMEOUT = "5m"
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
    UnitState.OFF_DUTY: "#999999",
}
STREET_COLOUR = "#404040"
#: Plug-in fleets' markers, one per fleet in the scenario's order (police units are squares).
FLEET_MARKERS = ("P", "D", "X", "h", "v", "p")
#: Open incidents are coloured by minutes since they happened, capped here.
WAIT_CAP_MIN = 30


@functools.cache
def base_scenario() -> Scenario:
    """The scenario the server was started with (read once per server process)."""
    return load_scenario(SCENARIO, overrides=OVERRIDES)


#: Every model built in this process, held weakly: what is left in it after a session ends
#: is what that session failed to release (see :func:`models_in_memory`).
_models: weakref.WeakSet[ResponseModel] = weakref.WeakSet()


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
        base = base_scenario()
        changes = {
            "volunteers.count": volunteers,
            "meus.count": meus,
            "police.units": police_units,
            "incidents.rate_per_day": rate_per_day,
            "incidents.probes_per_day": probes_per_day,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        super().__init__(base.with_changes(changes) if changes else base, seed=int(seed or 0))
        _models.add(self)


def models_in_memory() -> int:
    """View models still alive in this process, after a full garbage collection (a model's
    agents refer back to it, so only the cycle collector frees it)."""
    gc.collect()
    return len(_models)


# ------------------------------------------------------------------ clock and sliders
def clock_text(t_s: float) -> str:
    """Simulated time as day and hour of day (the model's day starts at midnight, t = 0)."""
    minute = int(t_s // 60)
    day, of_day = divmod(minute, 1440)
    return f"day {day + 1}, {of_day // 60:02d}:{of_day % 60:02d}"


def minutes_text(model: ResponseModel) -> str:
    """Minutes run and the run's length (horizon and drain), with the warm-up named."""
    minute = int(model.time // 60)
    text = f"minute {minute:,} of {int(model.end_s // 60):,}"
    if model.time < model.warmup_s:
        text += f" (warm-up until minute {int(model.warmup_s // 60):,})"
    elif model.time >= model.horizon_s:
        text += " (no new incidents: draining)"
    return text


@dataclass(frozen=True)
class Knob:
    """One slider: a ViewModel keyword with its label, unit and range.

    Args:
        key: the ViewModel keyword it sets.
        label: what it sets, as the slider's label.
        unit: the unit shown after the value.
        value: the scenario's value (where the slider starts).
        top: the slider's right end.
        step: the slider's step.
        whole: a count (an integer slider).
    """

    key: str
    label: str
    unit: str
    value: float
    top: float
    step: float
    whole: bool = True

    def text(self, value: float) -> str:
        """The slider's label with its current value and unit."""
        shown = f"{int(value):,}" if self.whole else f"{value:,.1f}"
        return f"{self.label}: {shown} {self.unit}"


def knobs(scenario: Scenario) -> list[Knob]:
    """Sliders from 0 to three times the scenario's value (a floor where it is small), in
    whole steps for counts and tenths of the scenario's value for rates: the scenario's value
    is always a step (a slider snaps to its steps, and would change the scenario unasked)."""

    def count(key: str, label: str, unit: str, value: int, floor: int) -> Knob:
        return Knob(key, label, unit, value, max(3 * value, floor), 1)

    def rate(key: str, label: str, value: float, floor: float) -> Knob:
        step = value / 10 if value > 0 else floor / 30
        return Knob(key, label, "a day", value, max(3 * value, floor), step, whole=False)

    incidents = scenario.incidents
    out = [
        count("volunteers", "Volunteers", "registered", scenario.volunteers.count, 100),
        count("meus", "MEUs", "units", scenario.meus.count, 20),
        count("police_units", "Police units", "on duty", scenario.police.units, 10),
        rate("rate_per_day", "Incidents", float(incidents.rate_per_day), 10.0),
    ]
    if any(k.sudden for k in incidents.kinds.values()):  # probes are sudden incidents
        out.append(
            rate("probes_per_day", "Probe emergencies", float(incidents.probes_per_day), 48.0)
        )
    return out


def model_defaults(scenario: Scenario) -> dict[str, Any]:
    """ViewModel keywords for the scenario as it is (what Reset uses before any slider moves)."""
    return {**{k.key: k.value for k in knobs(scenario)}, "seed": 0}


# ------------------------------------------------------------------ figures
def _stride(city) -> int:
    return max(1, int(np.ceil(max(city.width, city.height) / MAX_CELLS)))


def street_segments(city) -> np.ndarray:
    """Each street of the city's road network once, as (n, 2, 2) end points in km (empty
    without a road network)."""
    if city.roads is None:
        return np.zeros((0, 2, 2))
    graph = city.roads.graph.tocoo()
    upper = graph.row < graph.col  # the graph is symmetric: each street once
    xy = city.roads.node_xy / 1000
    return np.stack([xy[graph.row[upper]], xy[graph.col[upper]]], axis=1)


def _land_handles(codes: np.ndarray) -> list[Patch]:
    return [
        Patch(color=LAND_COLOURS[c], label=LandUse(c).label.replace("_", " "))
        for c in np.unique(codes)
    ]


def city_figure(model: ResponseModel) -> Figure:
    """The whole city: land use and water; streets (road-network scenarios); on-duty, free
    volunteers as density; MEU sites; police stations and units by state; open incidents
    coloured by how long they have waited. The legend and colour bar lie outside the map."""
    city, t = model.city, model.time
    k = _stride(city)
    w_km, h_km = city.extent_m[0] / 1000, city.extent_m[1] / 1000
    side = 6.0 / max(w_km, h_km)  # inches per km: the longer side 6 in
    fig = Figure(figsize=(w_km * side + 2.6, h_km * side + 1.6), dpi=90, layout="constrained")
    ax = fig.subplots()
    extent = (0, w_km, h_km, 0)
    land = city.land_use[::k, ::k]
    ax.imshow(land, cmap=ListedColormap(LAND_COLOURS), vmin=0, vmax=9, extent=extent,
              interpolation="nearest")  # fmt: skip
    handles: list[Any] = _land_handles(land)
    streets = street_segments(city)
    if len(streets):
        ax.add_collection(LineCollection(list(streets), colors=STREET_COLOUR, linewidths=0.5))
        handles.append(Patch(color=STREET_COLOUR, label=f"street ({len(streets):,})"))
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
        # Darker than the water at its lightest: one volunteer is never read as a pond.
        most = max(float(dens.max()), 1.0)
        ax.imshow(np.where(dens > 0, dens, np.nan), cmap="Blues", vmin=-most, vmax=most,
                  alpha=0.7, extent=extent, interpolation="nearest")  # fmt: skip
        handles.append(Patch(color="#2171b5", alpha=0.7, label="free volunteers on duty"))
    if len(model.meus):
        idx = np.linspace(0, len(model.meus) - 1, min(len(model.meus), MAX_SITES)).astype(int)
        handles.append(ax.scatter(model.meus.xy[idx, 0] / 1000, model.meus.xy[idx, 1] / 1000,
                                  s=5, c="#CC79A7", label="MEU site", linewidths=0))  # fmt: skip
    handles.append(ax.scatter(city.station_xy[:, 0] / 1000, city.station_xy[:, 1] / 1000,
                              marker="^", s=45, c="black", label="police station"))  # fmt: skip
    units = list(model.agents_by_type[PoliceUnit]) if PoliceUnit in model.agents_by_type else []
    pos = np.array([u.position for u in units]).reshape(-1, 2)
    states = np.array([u.state for u in units], dtype=object)
    for state, colour in UNIT_COLOURS.items():
        at = states == state
        label = f"police unit: {state.value.replace('_', ' ')}"
        handles.append(ax.scatter(pos[at, 0] / 1000, pos[at, 1] / 1000, s=22, c=colour,
                                  marker="s", label=label))  # fmt: skip
    handles.extend(_draw_fleets(ax, model))
    n = int(np.searchsorted(model.incidents.occurred_s, t, side="right"))
    open_ = np.flatnonzero(np.isnan(model.ledger.cleared_s[:n]))
    waits = Normalize(0, WAIT_CAP_MIN)
    waited = np.minimum((t - model.incidents.occurred_s[open_]) / 60, WAIT_CAP_MIN)
    handles.append(ax.scatter(model.incidents.xy[open_, 0] / 1000,
                              model.incidents.xy[open_, 1] / 1000, c=waited, cmap="Reds",
                              norm=waits, s=70, marker="*", edgecolors="black",
                              linewidths=0.4, label="open incident"))  # fmt: skip
    # Always drawn, so the map keeps its size from step to step.
    fig.colorbar(ScalarMappable(norm=waits, cmap="Reds"), ax=ax, location="bottom",
                 shrink=0.6, aspect=30, label="open incident: minutes since it happened "
                 f"({WAIT_CAP_MIN}+ capped)")  # fmt: skip
    ax.set_xlim(0, w_km)
    ax.set_ylim(h_km, 0)
    ax.set_xlabel("km east")
    ax.set_ylabel("km south")
    fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False)
    ax.set_title(f"{model.config.name}: {clock_text(t)}; incidents so far: {n:,}, "
                 f"open: {open_.size:,}", fontsize=10)  # fmt: skip
    return fig


def _draw_fleets(ax, model: ResponseModel) -> list[Any]:
    """The scenario's plug-in fleets, free and busy units in the police units' colours, a
    marker per fleet (sim.model.fleets.DrawnFleet); a fleet that tells no positions is named
    in the legend as not drawn. Returns the legend handles."""
    handles: list[Any] = []
    for k, fleet in enumerate(model.fleets):
        marker = FLEET_MARKERS[k % len(FLEET_MARKERS)]
        name = fleet.name.replace("_", " ")
        where = fleet_positions(fleet, model.time)
        if where is None:
            handles.append(Patch(color="none", label=f"{name}: not drawn (no positions)"))
            continue
        xy, busy = where
        for is_busy, state in ((False, UnitState.AVAILABLE), (True, UnitState.ON_SCENE)):
            at = busy == is_busy
            handles.append(ax.scatter(xy[at, 0] / 1000, xy[at, 1] / 1000, s=40, marker=marker,
                                      c=UNIT_COLOURS[state], edgecolors="black", linewidths=0.4,
                                      label=f"{name}: {'busy' if is_busy else 'free'} "
                                      f"({int(at.sum()):,})"))  # fmt: skip
    return handles


def legend_labels(fig: Figure) -> list[str]:
    """The labels of a figure's legends, in order."""
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def figure_text(fig: Figure) -> str:
    """A figure's title and the labels of its legends, the figure's own and its axes' (the
    image's alt text and tooltip: what a reader without the picture, or a test, reads)."""
    text = fig.axes[0].get_title()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    labels = [t.get_text() for legend in legends if legend is not None
              for t in legend.get_texts()]  # fmt: skip
    return text + (". Legend: " + "; ".join(labels) if labels else "")


def compliance_figure(model: ResponseModel) -> Figure:
    """Share of the incidents so far that each tier reached within its target, against
    simulated minutes (Mesa's data collector: one point per step)."""
    fig = Figure(figsize=(6, 3.6), dpi=90, layout="constrained")
    ax = fig.subplots()
    tiers = model.config.tiers
    series = model.datacollector.get_model_vars_dataframe()
    if len(series):
        minutes = series["time_s"].to_numpy() / 60
        for t in tiers:
            share = series[f"{t.name} <= {t.target_s / 60:g} min"].to_numpy(float)
            dots = 3 if len(minutes) < 60 else 0  # a line of a few points is hard to see
            ax.plot(minutes, share, color=tier_colour(t.name, tiers), marker=".",
                    markersize=dots, label=tier_label(t.name, tiers))  # fmt: skip
        ax.set_xlim(0, max(minutes[-1], 1))
    else:
        ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("simulated minutes since the start")
    ax.set_ylabel("share within target so far")
    ax.set_title("Tier compliance of the incidents so far (warm-up included)", fontsize=10)
    ax.grid(alpha=0.3)
    if any(np.isfinite(line.get_ydata()).any() for line in ax.lines):
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no incident counted yet", ha="center", transform=ax.transAxes)
    return fig


def ecdf_figure(model: ResponseModel) -> Figure:
    """Response-time ECDF of the incidents so far, with each tier's target marked."""
    fig = Figure(figsize=(6, 3.6), dpi=90, layout="constrained")
    ax = fig.subplots()
    tiers = model.config.tiers
    times = model.tier_times_so_far()
    for tier in tiers:  # every tier of the tier table in the legend, counted yet or not
        t = times[tier.name]
        colour, label = tier_colour(tier.name, tiers), tier_label(tier.name, tiers)
        if not t.size:
            ax.plot([], [], color=colour, label=f"{label}: none counted yet")
            continue
        step_ecdf(ax, t / 60, 20.0, color=colour, label=label)
        ax.axvline(tier.target_s / 60, color=colour, ls="--", lw=0.8)
    ax.set_xlim(0, 20)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("minutes on each tier's clock")
    ax.set_ylabel("share helped so far")
    ax.set_title("Response-time ECDF of the incidents so far", fontsize=10)
    ax.grid(alpha=0.3)
    if any(times[tier.name].size for tier in tiers):
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(10, 0.5, "no incident counted yet", ha="center")
    return fig


def png_uri(fig: Figure) -> str:
    """The figure as a PNG data URI, cut to what is drawn (nothing clipped)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


# ------------------------------------------------------------------ sessions
_open_sessions = [0]
_sessions_lock = threading.Lock()


def _say(text: str) -> None:
    print(f"jiefang view: {text}", file=sys.stdout, flush=True)


def _session_started():
    """Solara calls this as a browser session's kernel starts; what it returns, as the kernel
    shuts down (the tab closed, or the connection gone for :data:`CULL_TIMEOUT`)."""
    with _sessions_lock:
        _open_sessions[0] += 1
        now = _open_sessions[0]
    _say(f"session opened ({now} open)")
    closed = solara.kernel_closed_event()

    def ended() -> None:
        with _sessions_lock:
            _open_sessions[0] -= 1
        # The session's widgets and model are released only after this call returns. A thread
        # started inside the session would hold the session (and so its model) while it runs.
        with without_context():
            threading.Thread(target=_report_closed, args=(closed,), daemon=True).start()

    return ended


#: How long a closed session's report waits for its model to be released (seconds).
RELEASE_WAIT_S = 10.0


def _report_closed(closed: threading.Event) -> None:
    closed.wait(60)
    # Solara tears the session's widgets down on its own thread after the close event; on a
    # loaded machine the count taken at once still saw the model (1 where 0 was released a
    # moment later). A model held past the wait is reported as held.
    deadline = time.monotonic() + RELEASE_WAIT_S
    while models_in_memory() > _open_sessions[0] and time.monotonic() < deadline:
        time.sleep(0.2)
    _say(f"session closed ({_open_sessions[0]} open; models in memory: {models_in_memory()})")


solara.lab.on_kernel_start(_session_started)
if "SOLARA_KERNEL_CULL_TIMEOUT" not in os.environ:
    import solara.server.settings

    solara.server.settings.kernel.cull_timeout = CULL_TIMEOUT
# The view serves plain http on an address of the user's choosing; Solara then falls back to
# the right cookie (samesite=lax) but warns on every start.
warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")


# ------------------------------------------------------------------ page
# Step and Play bump Mesa's `update_counter` (one per session) after each step; reading it
# subscribes a component to re-render then (the model object itself stays the same).
@solara.component
def FigureImage(make, model, width: str = "100%"):
    update_counter.get()
    fig = make(model)
    text = figure_text(fig)
    solara.HTML(tag="img", attributes={"src": png_uri(fig), "alt": text, "title": text},
                style=f"max-width: {width}; max-height: 88vh; width: auto; height: auto; "
                "object-fit: contain; display: block")  # fmt: skip


def fleet_texts(model: ResponseModel) -> list[str]:
    """Each plug-in fleet in the state line: ``ambulance: 1 busy of 4`` (its name alone when
    it tells no positions)."""
    out = []
    for fleet in model.fleets:
        where = fleet_positions(fleet, model.time)
        if where is None:
            out.append(fleet.name)
        else:
            out.append(f"{fleet.name}: {int(where[1].sum()):,} busy of {len(where[1]):,}")
    return out


@solara.component
def Clock(model):
    update_counter.get()
    solara.Text(clock_text(model.time), style="font-size: 1.4em; font-weight: 500")
    solara.Text(minutes_text(model), style="display: block")


@solara.component
def StateText(model):
    update_counter.get()
    counts = model.live_counts()
    solara.Text(
        f"{clock_text(model.time)} (minute {int(model.time // 60):,}) | incidents so far: "
        f"{counts['incidents']:,} | open: {counts['open']:,} | volunteers: "
        f"{len(model.volunteers):,} | MEUs: {len(model.meus):,} | police units: "
        f"{len(model.police):,} | calls waiting: {model.calls_waiting():,}"
        + "".join(f" | {text}" for text in fleet_texts(model))
    )


@solara.component
def KnobSlider(knob: Knob, value: float, on_value):
    if knob.whole:
        solara.SliderInt(knob.text(value), value=int(value), on_value=on_value, min=0,
                         max=int(knob.top), step=int(knob.step))  # fmt: skip
    else:
        solara.SliderFloat(knob.text(value), value=float(value), on_value=on_value, min=0,
                           max=knob.top, step=knob.step)  # fmt: skip


@solara.component
def Controls(model: solara.Reactive, params: dict, pause_ms: int, per_redraw: int):
    """Step (one simulated minute), Play/Pause and Reset (a new model from the sliders).

    Mesa's own ModelController plays through ``solara.lab.use_task``, which in Solara 1.58
    keeps every session's task (and so its model) for the life of the server (fixed in
    Solara by widgetti/solara#1180); ``use_thread`` ends with the session."""
    playing = solara.use_reactive(False)
    running = model.value.running
    # Set once the page has drawn the latest step: Play waits for it, or a step every pause
    # would outrun a redraw that takes longer (at city scale, on a busy machine) and the
    # page, redrawn again before it is sent, would never change.
    drawn = solara.use_memo(threading.Event, [])
    solara.use_effect(drawn.set, [update_counter.value])

    def play(cancel: threading.Event) -> None:
        while playing.value and model.value.running and not cancel.is_set():
            for _ in range(per_redraw):
                model.value.step()
            drawn.clear()
            force_update()
            drawn.wait(timeout=60)
            cancel.wait(pause_ms / 1000)
        if not model.value.running:
            playing.set(False)

    solara.use_thread(play, dependencies=[playing.value, model.value, pause_ms, per_redraw],
                      intrusive_cancel=False)  # fmt: skip

    def step() -> None:
        model.value.step()
        force_update()

    def reset() -> None:
        playing.set(False)
        model.set(ViewModel(**params))

    with solara.Row(justify="space-between"):
        solara.Button("Reset", color="primary", on_click=reset)
        solara.Button("Pause" if playing.value else "Play", color="primary",
                      on_click=lambda: playing.set(not playing.value),
                      disabled=not running)  # fmt: skip
        solara.Button("Step", color="primary", on_click=step,
                      disabled=playing.value or not running)  # fmt: skip


@solara.component
def Page():
    scenario = base_scenario()
    params = solara.use_reactive(model_defaults(scenario))
    first = solara.use_memo(lambda: ViewModel(**params.value), [])
    model: solara.Reactive[ResponseModel] = solara.use_reactive(first)
    pause_ms = solara.use_reactive(100)
    per_redraw = solara.use_reactive(1)

    def setter(key: str):
        return lambda value: params.set({**params.value, key: value})

    with solara.AppBar():
        solara.AppBarTitle(f"jiefang: {scenario.name}")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Clock"):
            Clock(model.value)
        with solara.Card("Controls"):
            Controls(model, params.value, pause_ms.value, per_redraw.value)
            solara.SliderInt(f"Pause between steps: {pause_ms.value} ms", value=pause_ms,
                             min=0, max=500, step=10)  # fmt: skip
            solara.SliderInt(f"Redraw every: {per_redraw.value} simulated min",
                             value=per_redraw, min=1, max=100, step=1)  # fmt: skip
        with solara.Card("Model parameters"):
            for knob in knobs(scenario):
                KnobSlider(knob, params.value[knob.key], setter(knob.key))
            solara.Text("Reset builds this session's model again with these values (seed 0).",
                        style="font-size: 0.85em")  # fmt: skip
    with solara.Column():
        StateText(model.value)
        FigureImage(city_figure, model.value)
        with solara.Row():
            FigureImage(compliance_figure, model.value, "49%")
            FigureImage(ecdf_figure, model.value, "49%")
