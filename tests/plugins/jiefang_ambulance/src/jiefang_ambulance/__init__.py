"""Ambulances for jiefang: a plug-in package (the worked example of docs/extending.md).

- ``ambulance`` (:class:`~jiefang_ambulance.fleet.Ambulances`): the fleet on arrays.
- ``ambulance_agents`` (:class:`~jiefang_ambulance.agents.AmbulanceAgents`): the same fleet
  written the Mesa way, one agent per ambulance; it gives the same incidents.
- ``least_used`` (:class:`~jiefang_ambulance.policy.LeastUsed`): a police dispatch policy.
- ``faulty_radio``: a fleet that raises at its n-th alert (how a failing plug-in is reported).
"""
