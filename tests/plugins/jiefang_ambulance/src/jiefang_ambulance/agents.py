"""The same ambulance fleet written the Mesa way: each ambulance is a ``mesa.Agent`` with its
own behaviour (dispatch, arrive, release), the fleet a ``mesa.agentset.AgentSet`` of them, and an
arrival an event scheduled with Mesa's ``Model.schedule_event``. Slower than the arrays of
:mod:`jiefang_ambulance.fleet`, and gives the same incidents (tests/test_plugins.py)."""

from __future__ import annotations

from collections import deque

import mesa
from mesa.agentset import AgentSet

from jiefang_ambulance.common import AmbulanceConfig, station_xy, travel_s
from sim.model.records import Assignment


class Ambulance(mesa.Agent):
    """One ambulance: at its station, or committed to one incident."""

    def __init__(self, model, fleet: AmbulanceAgents, index: int, xy) -> None:
        super().__init__(model)
        self.fleet, self.index = fleet, index
        self.x, self.y = float(xy[0]), float(xy[1])
        self.incident: int | None = None
        self.sent_s = self.arrival_s = 0.0
        self.trip: mesa.time.Event | None = None

    @property
    def free(self) -> bool:
        return self.incident is None

    @property
    def busy(self) -> bool:
        """Committed to an incident (the view colours a busy agent apart)."""
        return self.incident is not None

    @property
    def position(self) -> tuple[float, float]:
        """Where the view draws it (m): its station, as in the array fleet."""
        return self.x, self.y

    def distance_to(self, scene) -> float:
        return abs(self.x - float(scene[0])) + abs(self.y - float(scene[1]))

    def dispatch(self, incident: int) -> None:
        """Leave for ``incident`` now; arrive after the turnout and the drive."""
        scene = self.model.incidents.xy[incident]
        self.incident, self.sent_s = incident, float(self.model.time)
        self.arrival_s = self.sent_s + travel_s(self.fleet.cfg, self.distance_to(scene))
        self.model.ledger.sent(self.fleet.name, incident)
        self.trip = self.model.schedule_event(self.arrive, at=self.arrival_s)

    def arrive(self) -> None:
        self.trip = None
        self.model.ledger.arrived(self.fleet.name, self.incident, self.model.time)

    def release(self) -> None:
        """The incident is cleared: back at the station (one turned back never arrives)."""
        if self.trip is not None:
            self.trip.cancel()
            self.trip = None
        t = float(self.model.time)
        self.model.assignments.append(Assignment(
            self.fleet.name, self.index, self.incident, self.sent_s, self.arrival_s,
            max(t, self.arrival_s),
        ))  # fmt: skip
        self.incident = None


class AmbulanceAgents:
    """:class:`jiefang_ambulance.fleet.Ambulances` as Mesa agents (the same rules)."""

    name = "ambulance_agents"
    Config = AmbulanceConfig

    def __init__(self, model, config: AmbulanceConfig) -> None:
        self.cfg = config
        self.agents = AgentSet(
            [Ambulance(model, self, k, xy) for k, xy in enumerate(station_xy(model, config))],
            random=model.random,
        )
        self.waiting: deque[list[int]] = deque()  # [incident, ambulances still needed]
        self.model = model

    def alert(self, t: float, incident: int, needed: int) -> None:
        left = self._send(incident, needed)
        if left:
            self.waiting.append([incident, left])

    def clear(self, t: float, incident: int) -> None:
        self.agents.select(lambda a: a.incident == incident).do("release")
        self.waiting = deque(w for w in self.waiting if w[0] != incident)
        while self.waiting:
            call = self.waiting[0]
            call[1] = self._send(call[0], call[1])
            if call[1]:
                break
            self.waiting.popleft()

    def _send(self, incident: int, needed: int) -> int:
        scene = self.model.incidents.xy[incident]
        free = self.agents.select(lambda a: a.free)
        chosen = sorted(free, key=lambda a: (a.distance_to(scene), a.index))[:needed]
        for ambulance in chosen:
            ambulance.dispatch(incident)
        return needed - len(chosen)
