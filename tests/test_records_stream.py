"""Records built faster or streamed in chunks are the same records (issue 13, targets 2-3).

Station distances per bank equal the per-station ``pair_distances`` minimum exactly; the
incident and assignment tables built column-wise, or streamed in chunks of settled incidents,
equal the tables built from the whole run at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.experiment.results import open_run
from sim.experiment.runner import concat_chunks, run_replications
from sim.experiment.store import TableStream, parquet_bytes
from sim.geo.scenario import load_scenario
from sim.model.city import City, build_city
from sim.model.frames import assignments_frame, incidents_frame
from sim.model.ledger import IncidentLedger
from sim.model.response import ResponseModel
from sim.model.rng import Stream, generator
from tests.conftest import SCENARIOS
from tests.test_identical_outputs import CASES as IDENTICAL_CASES


def _per_station(city: City, xy: np.ndarray) -> np.ndarray:
    """The definition: the minimum over stations of the pairwise travel distance."""
    best = np.full(len(xy), np.inf)
    bank = city.bank_of(xy)
    for station in city.station_xy:
        there = np.broadcast_to(station, xy.shape)
        best = np.minimum(best, city.pair_distances(xy, bank, there, None))
    return best


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        pytest.param("guangzhou-2023.yaml", 0, marks=pytest.mark.slow),
        ("chigang.yaml", 0),
        ("chigang.yaml", 1),
        ("demo.yaml", 2),
    ],
)
def test_station_distances_equal_the_per_station_minimum(name, layout):
    sc = load_scenario(SCENARIOS / name)
    city = build_city(sc.city, sc.police, generator(0, layout, Stream.CITY))
    w, h = city.extent_m
    xy = np.random.default_rng(layout).random((3000, 2)) * [w, h]
    expected = _per_station(city, xy)
    assert np.array_equal(city.station_distances(xy), expected)  # NaN-free; inf where cut off


def _chunked(sc, seed: int, replication: int, every: int):
    """Tables from a run handed over in chunks of at least ``every`` settled incidents (its
    ledger filled as incidents occur and given back as they are handed over)."""
    model = ResponseModel(sc, seed=seed, replication=replication, streamed=True)
    incidents, assignments = [], []
    while not model.finished:
        model.advance_to(model.time + 1800.0)
        chunk = model.take_settled(every)
        if chunk is not None:
            incidents.append(chunk[0])
            assignments.append(chunk[1])
    chunk = model.take_settled()
    incidents.append(chunk[0])
    assignments.append(chunk[1])
    assert model.assignments == [] and model.settled() == len(model.incidents)
    return concat_chunks(incidents), concat_chunks(assignments), len(incidents)


@pytest.mark.parametrize("name", sorted(IDENTICAL_CASES))
def test_tables_in_chunks_equal_the_tables_of_the_whole_run(name):
    sc = IDENTICAL_CASES[name]()
    model = ResponseModel(sc, seed=11, replication=1)
    records = model.run()
    whole_incidents = incidents_frame(records)  # the reference: one tuple per incident
    whole_assignments = assignments_frame(model.assignments)
    pd.testing.assert_frame_equal(model.incidents_table(), whole_incidents, check_exact=True)
    incidents, assignments, chunks = _chunked(sc, 11, 1, every=7)
    assert chunks > 2 or len(whole_incidents) < 30
    pd.testing.assert_frame_equal(incidents, whole_incidents, check_exact=True)
    pd.testing.assert_frame_equal(assignments, whole_assignments, check_exact=True)
    assert parquet_bytes(incidents) == parquet_bytes(whole_incidents)
    assert parquet_bytes(assignments) == parquet_bytes(whole_assignments)


@pytest.mark.slow
def test_settled_incidents_never_change_afterwards():
    sc = IDENTICAL_CASES["subdistrict-probes-sudden"]()
    model = ResponseModel(sc, seed=3)
    seen: dict[int, pd.DataFrame] = {}
    while not model.finished:
        model.advance_to(model.time + 3600.0)
        settled = model.settled()
        if settled and settled not in seen:
            seen[settled] = model.incidents_table(0, settled)
    assert len(seen) > 10
    final = model.incidents_table()
    for settled, early in seen.items():
        pd.testing.assert_frame_equal(early, final.iloc[:settled], check_exact=True)


def test_a_streamed_table_reads_back_equal_and_a_short_one_is_written_as_before(tmp_path):
    sc = IDENTICAL_CASES["demo"]()
    tables = run_replications(sc, 4, 2)
    chunks = [tables.incidents.iloc[k : k + 9] for k in range(0, len(tables.incidents), 9)]
    short = TableStream(tmp_path / "short.parquet")
    streamed = TableStream(tmp_path / "streamed.parquet", rows=25)
    for chunk in chunks:
        short.add(chunk.reset_index(drop=True))
        streamed.add(chunk.reset_index(drop=True))
    pd.testing.assert_frame_equal(short.close(), tables.incidents, check_exact=True)
    assert (tmp_path / "short.parquet").read_bytes() == parquet_bytes(tables.incidents)
    assert streamed.close() is None and streamed.streamed
    back = streamed.read_back()  # text as Arrow strings, to save memory
    assert back["kind"].dtype != object
    back = back.astype(tables.incidents.dtypes.to_dict())
    pd.testing.assert_frame_equal(back, tables.incidents, check_exact=True)
    assert {p.name for p in tmp_path.iterdir()} == {"short.parquet", "streamed.parquet"}
    # Read a row group at a time: the same table, in the same columns and dtypes.
    parts = list(streamed.row_groups(["kind", "replication", "occurred_s"]))
    assert len(parts) == -(-len(tables.incidents) // 25)
    joined = pd.concat(parts, ignore_index=True).astype({"kind": tables.incidents["kind"].dtype})
    expected = tables.incidents[["kind", "replication", "occurred_s"]]
    pd.testing.assert_frame_equal(joined, expected, check_exact=True)


def test_chunks_after_the_first_row_group_are_written_in_its_schema(tmp_path):
    """A later chunk is taken by column name and converted to the file's types: a text
    column empty in one chunk and another column order give the table written whole (the
    chunks were once cast whole to the schema, which failed on both)."""
    first = pd.DataFrame({"x": [1.0, 2.0, 3.0], "note": ["a", "b", None]})
    later = [pd.DataFrame({"note": [None, None], "x": [4.0, 5.0]}),  # (object column)
             pd.DataFrame({"x": [6.0], "note": ["c"]})]  # fmt: skip
    streamed = TableStream(tmp_path / "t.parquet", rows=3)
    for chunk in (first, *later):
        streamed.add(chunk)
    assert streamed.close() is None
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert pq.ParquetFile(tmp_path / "t.parquet").num_row_groups == 2
    assert back["x"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert back["note"].tolist()[:2] == ["a", "b"] and back["note"].tolist()[5] == "c"
    assert back["note"].isna().tolist() == [False, False, True, True, True, False]
    assert back["note"].dtype == first["note"].dtype


@pytest.mark.slow
def test_jiefang_run_streamed_writes_the_same_tables_and_summary(tmp_path, monkeypatch):
    from sim.experiment import streams
    from sim.interface.cli import main

    path = SCENARIOS / "demo.yaml"
    assert main(["run", str(path), "-r", "3", "-q", "--no-plot", "--out", str(tmp_path / "a")]) == 0
    monkeypatch.setattr(streams, "STREAM_ROWS", 64)
    assert main(["run", str(path), "-r", "3", "-q", "--no-plot", "--out", str(tmp_path / "b")]) == 0
    for name in ("incidents", "assignments"):
        a = pd.read_parquet(tmp_path / "a" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "b" / f"{name}.parquet")
        assert len(a) > 2 * 64
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert pq.ParquetFile(tmp_path / "b" / "incidents.parquet").num_row_groups > 1
    for name in ("summary.csv", "summary.json", "readiness.parquet", "layout_cells.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # the breakdowns come from the read-back of a streamed table: the same tables
    breakdowns = sorted(p.name for p in (tmp_path / "a").glob("breakdown_*.parquet"))
    assert len(breakdowns) >= 4
    assert breakdowns == sorted(p.name for p in (tmp_path / "b").glob("breakdown_*.parquet"))
    for name in breakdowns:
        a, b = (pd.read_parquet(tmp_path / run / name) for run in ("a", "b"))
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert open_run(tmp_path / "b").incidents.shape == open_run(tmp_path / "a").incidents.shape
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_a_streamed_run_on_a_city_with_a_frame_writes_the_same_layers(tmp_path, monkeypatch):
    """The GIS layers of a streamed run are written from the read-back (which once lacked
    their columns: a real-geography run longer than a row group failed with a KeyError)."""
    pytest.importorskip("geopandas")
    import pyogrio

    from sim.experiment import streams
    from sim.interface.cli import main

    path = SCENARIOS / "helsinki.yaml"
    args = ["run", str(path), "-r", "2", "-q", "--no-plot", "--out"]
    assert main([*args, str(tmp_path / "a")]) == 0
    monkeypatch.setattr(streams, "STREAM_ROWS", 8)
    assert main([*args, str(tmp_path / "b")]) == 0
    assert pq.ParquetFile(tmp_path / "b" / "incidents.parquet").num_row_groups > 1
    for name in ("summary.csv", "sites.geojson"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    layers = [name for name, _ in pyogrio.list_layers(tmp_path / "a" / "layers.gpkg")]
    assert "cells" in layers and "incidents" in layers
    for layer in layers:
        a, b = (pyogrio.read_dataframe(tmp_path / run / "layers.gpkg", layer=layer)
                for run in ("a", "b"))  # fmt: skip
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 9000), cuts=st.lists(st.integers(0, 9500), max_size=4))
def test_forgetting_handed_over_rows_leaves_every_later_row_as_it_was(n, cuts):
    """IncidentLedger.forget_before gives back whole pages of the rows before each cut (of
    every column, in rows of one block or alone); the rows from the cut on keep their
    values, whatever the page boundaries."""
    ledger = IncidentLedger(n)
    ledger.add_responder("ambulance")
    rng = np.random.default_rng(n)
    arrays = [column for _, column in ledger._mapped]
    for column in arrays:
        column[...] = rng.integers(1, 100, column.shape).astype(column.dtype)
    before = [column.copy() for column in arrays]
    cleared = 0
    for k in sorted(cuts):
        cleared += int(np.count_nonzero(~np.isnan(ledger.cleared_s[ledger.forgotten : k])))
        ledger.forget_before(k)
        kept = max(min(k, n), ledger.forgotten)
        for column, was in zip(arrays, before, strict=True):
            np.testing.assert_array_equal(column[..., kept:], was[..., kept:])
    assert ledger.forgotten == min(max(cuts, default=0), n)
    assert ledger.cleared_forgotten == cleared


def test_rows_handed_over_are_not_read_again():
    """After take_settled, the model keeps no rows of what it handed over: reading them is an
    error, and live_counts counts them as they were."""
    sc = IDENTICAL_CASES["demo"]()
    streamed, whole = ResponseModel(sc, seed=2), ResponseModel(sc, seed=2)
    for t in (6 * 3600.0, 12 * 3600.0):
        streamed.advance_to(t)
        whole.advance_to(t)
        assert streamed.take_settled() is not None
        assert streamed.ledger.forgotten > 0
        assert streamed.live_counts() == whole.live_counts()
    with pytest.raises(ValueError, match="handed over by take_settled"):
        streamed.incidents_table(0, 5)
    with pytest.raises(ValueError, match="handed over"):
        streamed.columns_so_far()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 5000), steps=st.lists(st.integers(0, 6000), max_size=4))
def test_a_ledger_filled_as_incidents_occur_holds_what_a_filled_one_holds(n, steps):
    """A ledger whose rows get their starting values as fill_to reaches them (the model's)
    holds, in every row filled, what a ledger filled at once holds."""
    whole, lazy = IncidentLedger(n), IncidentLedger(n, filled=False)
    for ledger in (whole, lazy):
        ledger.add_responder("ambulance")
    for j, k in enumerate(steps):
        lazy.fill_to(k)
        upto = lazy.filled
        assert upto == min(max([0, *steps[: j + 1]]), n)
        for (_, a), (_, b) in zip(whole._mapped, lazy._mapped, strict=True):
            np.testing.assert_array_equal(a[..., :upto], b[..., :upto])
    lazy.fill_to(n)
    for (_, a), (_, b) in zip(whole._mapped, lazy._mapped, strict=True):
        np.testing.assert_array_equal(a, b)
