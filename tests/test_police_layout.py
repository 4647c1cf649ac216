"""Police grids and stations on cities with fewer populated cells than stations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sim.model.response import ResponseModel
from tests.conftest import scenario


@pytest.mark.parametrize(
    ("width", "height", "grids", "stations"), [(1, 1, 4, 2), (2, 1, 6, 3), (3, 1, 9, 5)]
)
def test_few_grid_centres_give_every_centre_a_station_without_warnings(
    width, height, grids, stations
):
    """Grid centres are drawn (with replacement) from populated cells, so a city of a few cells
    has fewer distinct centres than stations: k-means then left clusters empty and warned.
    Now every distinct centre gets a station and the others go to other grids."""
    sc = scenario(
        city={"width": width, "height": height, "cell_size_m": 100.0, "population": 1000,
              "land_use_shares": {}},
        police={"stations": stations, "grids": grids, "units": stations},
    )  # fmt: skip
    for seed in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            city = ResponseModel(sc, seed=seed).city
        centres = {tuple(xy) for xy in city.grid_centre_xy.tolist()}
        stations_at = {tuple(xy) for xy in city.station_xy.tolist()}
        assert city.station_xy.shape[0] == stations
        assert centres <= stations_at
        assert len(centres) <= width * height < stations
        assert np.all(city.station_of_grid >= 0) and np.all(city.station_of_grid < stations)


def test_a_layout_whose_river_bends_leave_no_land_exits_2_naming_the_key(tmp_path, capsys):
    """The check before the run knows only the water every bend gives (exact for straight
    rivers); a layout whose bends cover the rest is refused at build, not a traceback."""
    from sim.interface.cli import main

    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny rivers\nhorizon_hours: 1\ncity:\n  width: 3\n  height: 3\n  rivers:\n"
        "    - {axis: horizontal, position: 0.3, width_cells: 2, meander_cells: 1.5, bridges: 1}\n"
        "    - {axis: vertical, position: 0.6, width_cells: 2, meander_cells: 1.5, bridges: 1}\n"
    )
    codes = {}
    for seed in range(12):
        codes[seed] = main(["run", str(path), "--seed", str(seed), "--out",
                            str(tmp_path / f"out{seed}"), "-q", "--no-plot"])  # fmt: skip
        err = capsys.readouterr().err
        if codes[seed] == 2:
            assert err.count("\n") == 1 and "Traceback" not in err
            assert f"{path}: city.rivers:" in err and "no land" in err
            assert not (tmp_path / f"out{seed}").exists()
    assert set(codes.values()) == {0, 2}  # some layouts have land, some do not
