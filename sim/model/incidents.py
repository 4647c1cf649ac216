"""The incident stream: generated once per (scenario, seed, replication), replayed for any staffing.

Arrivals are a non-homogeneous Poisson process whose rate is constant within each clock hour
(``rate_per_day`` shaped by ``hourly_profile``), sampled exactly: a Poisson count per hour and
uniform times inside it. Cells are drawn in proportion to residents times the land-use weight
of the kind. Everything an incident could need later (handling time, call, camera and witness
delays, the self-rescue delay) is drawn here from the incident stream alone, so a change of
staffing can change who helps, never what happens.

Three processes make the stream, each from its own random stream so that changing one never
moves another: incidents at ``rate_per_day`` (all kinds, or routine kinds only when sudden
incidents have their own ``sudden_rate_per_day``), sudden incidents, and *probes*: sudden
incidents placed where and when sudden incidents happen, at ``probes_per_day``, which the tiers
count like any sudden incident but which never count as activity (a drill, in effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.city import City
from sim.model.config import IncidentsConfig
from sim.model.replay import ReplayIncidents
from sim.model.vocab import LandUse


def kind_dtype(kinds: int) -> np.dtype:
    """The integer type of a stream's kind indices for ``kinds`` kinds."""
    return np.dtype(np.int8 if kinds <= 127 else np.int32)


@dataclass(frozen=True, eq=False)
class IncidentStream:
    """Columns of incidents, sorted by occurrence time. Times in s, positions in m."""

    kind_names: tuple[str, ...]
    occurred_s: np.ndarray
    kind: np.ndarray  # index into kind_names
    xy: np.ndarray  # (n, 2)
    handling_s: np.ndarray
    call_delay_s: np.ndarray  # inf where nobody calls 110
    camera_delay_s: np.ndarray  # inf where no camera sees it
    witness_delay_s: np.ndarray  # used only if someone is at the scene
    self_rescue_delay_s: np.ndarray  # used only if someone at the scene can act
    call_handling_u: np.ndarray  # uniform for 110's call-handling time (police settings)
    probe: np.ndarray | None = None  # bool: a probe emergency, not a real incident

    def __post_init__(self) -> None:
        if self.probe is None:
            object.__setattr__(self, "probe", np.zeros(self.occurred_s.shape[0], bool))
        # The kinds in the narrowest integer type (a byte an incident where int64 took eight
        # on a city year's 2.4 million): the same indices.
        code = kind_dtype(len(self.kind_names))
        if self.kind.dtype != code:
            object.__setattr__(self, "kind", np.asarray(self.kind).astype(code))

    def __len__(self) -> int:
        return self.occurred_s.shape[0]

    @property
    def is_probe(self) -> np.ndarray:
        """Which incidents are probes (bool); never None once built."""
        if self.probe is None:  # __post_init__ fills it
            raise AttributeError("probe")
        return self.probe

    @classmethod
    def from_rows(cls, kind_names: tuple[str, ...], rows: list[dict]) -> IncidentStream:
        """A hand-written stream (tests, replays). Each row: occurred_s, x_m, y_m, kind,
        handling_s; optional call_delay_s, camera_delay_s, witness_delay_s,
        self_rescue_delay_s, call_handling_u (default: a call after 0 s, no camera, 0 s, 0 s,
        the median call-handling time)."""
        rows = sorted(rows, key=lambda r: r["occurred_s"])
        col = lambda key, default: np.array([r.get(key, default) for r in rows], dtype=float)  # noqa: E731
        return cls(
            kind_names=tuple(kind_names),
            occurred_s=col("occurred_s", None),
            kind=np.array([kind_names.index(r["kind"]) for r in rows], dtype=np.int64),
            xy=np.stack([col("x_m", None), col("y_m", None)], axis=1).reshape(-1, 2),
            handling_s=col("handling_s", None),
            call_delay_s=col("call_delay_s", 0.0),
            camera_delay_s=col("camera_delay_s", np.inf),
            witness_delay_s=col("witness_delay_s", 0.0),
            self_rescue_delay_s=col("self_rescue_delay_s", 0.0),
            call_handling_u=col("call_handling_u", 0.5),
        )


def hourly_rates(cfg: IncidentsConfig, rate_per_day: float | None = None) -> np.ndarray:
    """Incidents per second in each hour of the day (at ``rate_per_day``, default the
    scenario's ``rate_per_day``)."""
    profile = np.asarray(cfg.hourly_profile, dtype=float)
    rate = cfg.rate_per_day if rate_per_day is None else rate_per_day
    return rate / 86400.0 * profile / profile.mean()


def generate_incidents(
    cfg: IncidentsConfig,
    city: City,
    horizon_s: float,
    rng: np.random.Generator,
    sudden_rng: np.random.Generator | None = None,
    probe_rng: np.random.Generator | None = None,
    replay: ReplayIncidents | None = None,
    replay_rng: np.random.Generator | None = None,
) -> IncidentStream:
    """The incident stream of one replication: incidents, sudden incidents with their own rate,
    and probes, each from its own generator, merged in time order. With ``replay``: the
    replayed incidents alone (``replay_mode: replace``) or merged in after the generated ones
    (``add``), their details drawn from ``replay_rng``. Nothing generated is drawn for a
    replace-mode replay, and the generated draws of an add-mode one are those of the same
    scenario without it (common random numbers)."""
    kind_names = tuple(cfg.kinds)
    sudden = np.array([cfg.kinds[k].sudden for k in kind_names])
    if replay is not None and replay_rng is not None and cfg.replay_mode == "replace":
        return replay_stream(cfg, city, replay, replay_rng)
    parts = []
    if cfg.sudden_rate_per_day is None:
        parts.append(_draw(cfg, city, horizon_s, rng, cfg.rate_per_day, np.ones_like(sudden)))
    else:
        parts.append(_draw(cfg, city, horizon_s, rng, cfg.rate_per_day, ~sudden))
        if sudden_rng is not None:
            parts.append(_draw(cfg, city, horizon_s, sudden_rng, cfg.sudden_rate_per_day, sudden))
    if replay is not None and replay_rng is not None:
        parts.append(replay_stream(cfg, city, replay, replay_rng))
    if cfg.probes_per_day > 0 and probe_rng is not None:
        probes = _draw(cfg, city, horizon_s, probe_rng, cfg.probes_per_day, sudden)
        parts.append(IncidentStream(**{**probes.__dict__, "probe": np.ones(len(probes), bool)}))
    return _merge(kind_names, parts)


def replay_stream(
    cfg: IncidentsConfig, city: City, replay: ReplayIncidents, rng: np.random.Generator
) -> IncidentStream:
    """The replayed incidents in time order (equal times keep the file's order): their times,
    places and kinds as given, the same in every replication; their handling and detection
    delays drawn from ``rng`` (the replication's replay stream), as for generated ones."""
    order = np.argsort(replay.occurred_s, kind="stable")
    kind_names = tuple(cfg.kinds)
    index = {name: k for k, name in enumerate(kind_names)}
    kind = np.array([index[k] for k in replay.kind[order]], dtype=np.int64)
    xy = replay.xy[order]
    col, row = city.cell_of(xy)
    cell = row * city.width + col
    return _with_details(cfg, city, replay.occurred_s[order], kind, cell, xy, rng)


def _merge(kind_names: tuple[str, ...], parts: list[IncidentStream]) -> IncidentStream:
    """Streams merged by time; equal times keep the order of ``parts`` (stable sort)."""
    if len(parts) == 1:
        return parts[0]
    order = np.argsort(np.concatenate([p.occurred_s for p in parts]), kind="stable")
    columns = {}
    for name in IncidentStream.__dataclass_fields__:
        if name == "kind_names":
            continue
        columns[name] = np.concatenate([getattr(p, name) for p in parts])[order]
    return IncidentStream(kind_names=kind_names, **columns)


def _draw(
    cfg: IncidentsConfig,
    city: City,
    horizon_s: float,
    rng: np.random.Generator,
    rate_per_day: float,
    allowed: np.ndarray,
) -> IncidentStream:
    """One Poisson stream of incidents of the ``allowed`` kinds (shares among them)."""
    kind_names = tuple(cfg.kinds)
    rates = hourly_rates(cfg, rate_per_day)
    n_hours = int(np.ceil(horizon_s / 3600.0))
    starts = np.arange(n_hours) * 3600.0
    lengths = np.minimum(3600.0, horizon_s - starts)
    counts = rng.poisson(rates[np.arange(n_hours) % 24] * lengths)
    occurred = np.repeat(starts, counts) + rng.random(counts.sum()) * np.repeat(lengths, counts)
    occurred.sort()
    n = occurred.size

    shares = np.array([cfg.kinds[k].share for k in kind_names]) * allowed
    kind = np.minimum(
        np.searchsorted(np.cumsum(shares) / (shares.sum() or 1.0), rng.random(n), side="right"),
        len(kind_names) - 1,
    )
    u_cell, u_jx, u_jy = rng.random(n), rng.random(n), rng.random(n)
    cell = np.zeros(n, np.int64)
    for k, name in enumerate(kind_names):
        at = kind == k
        weights = kind_cell_weights(cfg, name, city)
        cdf = np.cumsum(weights) / weights.sum()
        cell[at] = np.minimum(np.searchsorted(cdf, u_cell[at], side="right"), cdf.size - 1)
    s = city.cell_size_m
    xy = np.stack([(cell % city.width + u_jx) * s, (cell // city.width + u_jy) * s], axis=1)
    return _with_details(cfg, city, occurred, kind, cell, xy, rng)


def _with_details(
    cfg: IncidentsConfig,
    city: City,
    occurred: np.ndarray,
    kind: np.ndarray,
    cell: np.ndarray,
    xy: np.ndarray,
    rng: np.random.Generator,
) -> IncidentStream:
    """Incidents at known times, kinds and places, with what each could need later (handling,
    call, camera, witness and self-rescue delays) drawn from ``rng``."""
    kind_names = tuple(cfg.kinds)
    n = occurred.size
    u_handle, u_call, u_call_delay = rng.random(n), rng.random(n), rng.random(n)
    u_cam, u_cam_delay, u_wit, u_self, u_110 = (rng.random(n) for _ in range(5))
    handling = np.empty(n)
    call = np.full(n, np.inf)
    call_prob = np.array([cfg.kinds[k].call_probability for k in kind_names])[kind]
    for k, name in enumerate(kind_names):
        at = kind == k
        handling[at] = cfg.kinds[name].handling.quantile(u_handle[at])
    calls = u_call < call_prob
    call[calls] = cfg.call_delay.quantile(u_call_delay[calls])
    watched = city.camera.reshape(-1)[cell] & (u_cam < cfg.camera_detect_probability)
    camera = np.where(watched, cfg.camera_delay.quantile(u_cam_delay), np.inf)
    return IncidentStream(
        kind_names=kind_names,
        occurred_s=occurred,
        kind=kind,
        xy=xy,
        handling_s=handling,
        call_delay_s=call,
        camera_delay_s=camera,
        witness_delay_s=cfg.witness_delay.quantile(u_wit),
        self_rescue_delay_s=cfg.self_rescue_delay.quantile(u_self),
        call_handling_u=u_110,
    )


def kind_cell_weights(cfg: IncidentsConfig, kind: str, city: City) -> np.ndarray:
    """Relative chance that an incident of ``kind`` falls in each cell (flat, row-major):
    residents times the kind's land-use weight, or uniform over land where that is all 0.
    The incident stream draws cells by these weights; planning reads them as demand."""
    weights = (city.population * _land_weight(cfg, kind, city.land_use)).reshape(-1)
    if weights.sum() <= 0:
        weights = (city.bank >= 0).reshape(-1).astype(float)
    return weights


def _land_weight(cfg: IncidentsConfig, kind: str, land_use: np.ndarray) -> np.ndarray:
    table = cfg.kinds[kind].land_use_weight or cfg.land_use_weight
    weight = np.ones(len(LandUse))
    for name, w in table.items():
        weight[LandUse[name.upper()]] = w
    weight[LandUse.WATER] = weight[LandUse.BRIDGE] = 0.0
    return weight[land_use]
