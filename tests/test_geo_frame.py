"""The grid's place on the Earth (sim.geo.crs): the frame every geographic input/output uses."""

import numpy as np
import pytest

from sim.geo.crs import GridFrame, frame_of
from sim.model.config import CityConfig


def test_grid_metres_map_to_crs_with_y_growing_south():
    f = GridFrame("EPSG:3067", 385_000.0, 6_673_000.0)
    e, n = f.to_crs([0.0, 100.0], [0.0, 250.0])
    assert e.tolist() == [385_000.0, 385_100.0]
    assert n.tolist() == [6_673_000.0, 6_672_750.0]
    x, y = f.from_crs(e, n)
    assert x.tolist() == [0.0, 100.0] and y.tolist() == [0.0, 250.0]


def test_lonlat_round_trip_lies_in_helsinki():
    pytest.importorskip("pyproj")
    # ETRS-TM35FIN coordinates of central Helsinki (the railway station is near 385.5 km E,
    # 6672.3 km N); lon/lat near 24.94 E, 60.17 N.
    f = GridFrame("EPSG:3067", 385_000.0, 6_673_000.0)
    lon, lat = f.to_lonlat([500.0], [700.0])
    assert 24.9 < lon[0] < 25.0 and 60.15 < lat[0] < 60.19
    x, y = f.from_lonlat(lon, lat)
    np.testing.assert_allclose([x[0], y[0]], [500.0, 700.0], atol=1e-6)


def test_city_without_crs_has_no_frame_and_half_a_frame_is_refused():
    assert frame_of(CityConfig()) is None
    assert frame_of(CityConfig(crs="EPSG:3067", origin=(1.0, 2.0))) == GridFrame(
        "EPSG:3067", 1.0, 2.0
    )
    with pytest.raises(ValueError, match="crs and origin go together"):
        CityConfig(crs="EPSG:3067")
    with pytest.raises(ValueError, match="finite"):
        CityConfig(crs="EPSG:3067", origin=(float("nan"), 0.0))


def test_origin_reads_from_yaml_as_a_two_item_list(tmp_path):
    from sim.geo.scenario import load_scenario
    from sim.model.config import ScenarioError

    p = tmp_path / "s.yaml"
    p.write_text("name: s\ncity: {crs: 'EPSG:3067', origin: [385000, 6673000]}\n")
    assert load_scenario(p).city.origin == (385000.0, 6673000.0)
    p.write_text("name: s\ncity: {crs: 'EPSG:3067', origin: [1, 2, 3]}\n")
    with pytest.raises(ScenarioError, match=r"city\.origin"):
        load_scenario(p)
    p.write_text("name: s\ncity: {crs: 'EPSG:3067', origin: ['a', 2]}\n")
    with pytest.raises(ScenarioError, match=r"city\.origin"):
        load_scenario(p)
