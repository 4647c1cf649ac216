"""Cities and volunteers' homes kept on disk between processes (sim.experiment.disk_cache, issue
23): a run on a city read back gives the tables of a run on a city built, byte for byte; a
file is named by everything that built it; a bad file is built again; off keeps nothing."""

from __future__ import annotations

import pytest

from sim.experiment import disk_cache
from sim.model import city_cache, response
from tests.conftest import run, scenario


def _sc(**more):
    base = {
        "volunteers": {"count": 300},
        "meus": {"count": 20},
        "city": {"width": 30, "height": 24, "cell_size_m": 100.0, "population": 40000},
    }
    return scenario(**{**base, **more})  # fmt: skip


@pytest.fixture
def on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("JIEFANG_CACHE_DIR", str(tmp_path))
    disk_cache.install()
    city_cache.clear()
    yield tmp_path
    city_cache.clear()


@pytest.fixture
def built(monkeypatch) -> list[int]:
    """The cities and volunteers' homes built from here on."""
    calls = [0, 0]
    real_city, real_homes = city_cache.build_city, response.volunteer_homes

    def city(*a, **k):
        calls[0] += 1
        return real_city(*a, **k)

    def homes(*a, **k):
        calls[1] += 1
        return real_homes(*a, **k)

    monkeypatch.setattr(city_cache, "build_city", city)
    monkeypatch.setattr(response, "volunteer_homes", homes)
    return calls


def _tables(sc, seed=0):
    _, incidents, assignments = run(sc, seed=seed)
    return incidents.to_csv(float_format="%.17g"), assignments.to_csv(float_format="%.17g")


def test_a_city_read_back_runs_as_the_city_built(on_disk, built):
    sc = _sc()
    first = _tables(sc)
    assert built == [1, 1]
    assert len(list(on_disk.glob("*.pickle"))) == 2  # the city and the homes (MEU sites: no)
    city_cache.clear()  # as a new process: nothing in memory
    assert _tables(sc) == first
    assert built == [1, 1]  # both read back


def test_another_seed_or_setting_is_another_file(on_disk, built):
    _tables(_sc())
    city_cache.clear()
    _tables(_sc(), seed=1)
    city_cache.clear()
    _tables(_sc(police={"stations": 2, "grids": 4, "units": 2}))
    city_cache.clear()
    _tables(_sc(volunteers={"count": 301}))  # the same city, other homes
    assert built == [3, 4]


def test_other_code_is_another_file(on_disk, built, monkeypatch):
    _tables(_sc())
    city_cache.clear()
    monkeypatch.setattr(disk_cache, "fingerprint", lambda: "other code")
    _tables(_sc())
    assert built == [2, 2]


def test_a_bad_file_is_built_again(on_disk, built):
    sc = _sc()
    first = _tables(sc)
    for path in on_disk.glob("*.pickle"):
        path.write_bytes(path.read_bytes()[:100])  # cut short
    city_cache.clear()
    assert _tables(sc) == first
    assert built == [2, 2]
    city_cache.clear()
    assert _tables(sc) == first  # written again, whole
    assert built == [2, 2]


def test_off_keeps_nothing(tmp_path, monkeypatch, built):
    disk_cache.install()
    for off in ("off", "0", ""):
        monkeypatch.setenv("JIEFANG_CACHE_DIR", off)
        assert disk_cache.folder() is None
    city_cache.clear()
    _tables(_sc())
    city_cache.clear()
    _tables(_sc())
    assert built == [2, 2]
    # Unset is off: nothing goes to the user's home or any folder not asked for.
    monkeypatch.delenv("JIEFANG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert disk_cache.folder() is None
    city_cache.clear()
    _tables(_sc())
    assert list(tmp_path.iterdir()) == []


def test_the_folder_is_bounded(on_disk, monkeypatch):
    monkeypatch.setattr(disk_cache, "MAX_FILES", 3)
    for seed in range(3):
        city_cache.clear()
        _tables(_sc(), seed=seed)
    assert len(list(on_disk.glob("*.pickle"))) == 3


def test_the_model_alone_keeps_nothing_on_disk(tmp_path, monkeypatch, built):
    """The model does no file I/O: a store is used only once the experiment layer (or a
    caller) installs one, and none is installed by the model's own modules."""
    monkeypatch.setenv("JIEFANG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(city_cache, "_DISK", None)
    city_cache.clear()
    _tables(_sc())
    assert list(tmp_path.iterdir()) == []
    city_cache.clear()
