"""The model is handed what a scenario's files hold; it reads none (issue 22).

The scenario loader (sim.geo.scenario) reads the map, GIS and replay files; the model gets
arrays (sim.model.config.files.CityInputs, sim.model.replay.ReplayIncidents) and checks a
changed scenario against its files only through the reader the loader installs.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.geo.mapfile import read_map_file
from sim.geo.scenario import load_scenario
from sim.model.city import build_city
from sim.model.config import ScenarioError
from sim.model.config import files as model_files
from sim.model.config.files import CityInputs
from sim.model.rng import Stream, generator
from sim.model.vocab import LandUse

MAP = "......\n..~~..\n..~~..\n......\n"  # 4 cells of water in residential land


def _map_scenario(tmp_path):
    (tmp_path / "map.txt").write_text(MAP)
    (tmp_path / "s.yaml").write_text(
        "name: m\ncity: {map_file: map.txt, population: 500}\npolice: {units: 2}\n"
    )
    return load_scenario(tmp_path / "s.yaml")


def test_a_city_built_from_the_arrays_it_is_handed_is_the_city_of_the_file(tmp_path):
    sc = _map_scenario(tmp_path)
    from_file = build_city(sc.city, sc.police, generator(0, 0, Stream.CITY), sc.travel)
    land_use = read_map_file(tmp_path / "map.txt")
    given = build_city(sc.city, sc.police, generator(0, 0, Stream.CITY), sc.travel,
                       CityInputs(land_use=land_use))  # fmt: skip
    assert np.array_equal(from_file.land_use, given.land_use)
    assert np.array_equal(from_file.station_xy, given.station_xy)
    assert np.count_nonzero(given.land_use == LandUse.WATER) == 4
    # The array handed over is the map's, not a copy the model re-read: change it, and the
    # city changes with it.
    land_use = land_use.copy()
    land_use[0, 0] = LandUse.WATER
    changed = build_city(sc.city, sc.police, generator(0, 0, Stream.CITY), sc.travel,
                         CityInputs(land_use=land_use))  # fmt: skip
    assert changed.land_use[0, 0] == LandUse.WATER != from_file.land_use[0, 0]


def test_a_city_naming_a_file_it_was_not_handed_is_refused(tmp_path):
    sc = _map_scenario(tmp_path)
    with pytest.raises(ValueError, match=r"city\.map_file is set but its file was not read"):
        build_city(sc.city, sc.police, generator(0, 0, Stream.CITY), sc.travel, CityInputs())


def test_without_the_loader_a_scenario_naming_a_file_cannot_be_changed(tmp_path, monkeypatch):
    sc = _map_scenario(tmp_path)
    assert sc.with_changes({"police.units": 3}).police.units == 3  # the loader re-checks it
    monkeypatch.setattr(model_files, "_INSTALLED", [])
    with pytest.raises(
        ScenarioError, match=r"^<changes>: this file is read by the scenario loader"
    ):
        sc.with_changes({"police.units": 3})
    # Without files nothing needs reading: a scenario of values changes as before.
    plain = load_scenario("demo")
    assert plain.with_changes({"police.units": 3}).police.units == 3
