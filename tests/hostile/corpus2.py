"""Hostile inputs, round two (issue 27): results folders the wrong command would replace,
sizes that would exhaust memory, library errors on user data, the view's address, and
arguments that were silently wrong.

Same shape as :mod:`tests.hostile.corpus`: each case is a folder of generated files and a
command line that must exit 2 with one message, no traceback, quickly and in little memory,
and leave the folder as it was. Rasters, networks and results folders are generated when a
case is written (a 1.2 MB sparse GeoTIFF declares 100,000 x 100,000 pixels), never stored.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from tests.hostile.corpus import BASE, Case, Sparse

FOLDERS, MEMORY, LIBRARY, VIEW, ARGUMENTS = (
    "r2a results folders replaced by the wrong command",
    "r2b sizes checked before memory is spent",
    "r2c library errors on user data",
    "r2d the view's address",
    "r2e arguments silently wrong",
)

#: A frame in Helsinki (ETRS-TM35FIN), small enough to build in milliseconds.
FRAME = (
    "city: {crs: 'EPSG:3067', origin: [385000, 6673000], width: 20, height: 20, cell_size_m: 100}"
)
SMALL = "name: s\nhorizon_hours: 1\nreplications: 1\n"


# ---------------------------------------------------------------------------- generators
def geotiff(
    width: int,
    height: int,
    value: float = 1.0,
    dtype: str = "float32",
    crs: str = "EPSG:3067",
    block: int = 256,
) -> Callable[[], bytes]:
    """A GeoTIFF of ``width`` x ``height`` pixels, tiled and sparse: only the first block
    is written, so 100,000 x 100,000 pixels take about a megabyte."""

    def make() -> bytes:
        import numpy as np
        from rasterio.crs import CRS
        from rasterio.io import MemoryFile
        from rasterio.transform import from_origin

        side = min(block, width, height)
        profile = dict(
            driver="GTiff",
            width=width,
            height=height,
            count=1,
            dtype=dtype,
            crs=CRS.from_user_input(crs),
            transform=from_origin(385000, 6673000, 50, 50),
            tiled=width >= 256 and height >= 256,
            blockxsize=256,
            blockysize=256,
            compress="deflate",
            SPARSE_OK=True,
        )
        with MemoryFile() as mem:
            with mem.open(**profile) as ds:
                ds.write(np.full((side, side), value, dtype), 1, window=((0, side), (0, side)))
            return mem.read()

    return make


def graphml(crs: str, edges: list[tuple[int, int]]) -> str:
    """An OSMnx-style GraphML of three nodes near Helsinki's centre (lon/lat)."""
    nodes = [(0, 24.93, 60.17), (1, 24.94, 60.17), (2, 24.94, 60.18)]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
        '<key id="crs" for="graph" attr.name="crs" attr.type="string"/>\n'
        '<key id="x" for="node" attr.name="x" attr.type="string"/>\n'
        '<key id="y" for="node" attr.name="y" attr.type="string"/>\n'
        f'<graph edgedefault="undirected"><data key="crs">{crs}</data>\n'
        + "".join(
            f'<node id="{i}"><data key="x">{x}</data><data key="y">{y}</data></node>\n'
            for i, x, y in nodes
        )
        + "".join(f'<edge source="{a}" target="{b}"/>\n' for a, b in edges)
        + "</graph></graphml>\n"
    )


def points_geojson(crs_member: object | None) -> str:
    collection: dict = {"type": "FeatureCollection"}
    if crs_member is not None:
        collection["crs"] = crs_member
    collection["features"] = [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {"type": "Point", "coordinates": [24.935, 60.172]},
        }
    ]
    return json.dumps(collection)


def manifest(kind: str) -> str:
    """A results folder's manifest.json as each command writes it (enough to be told apart)."""
    files = {"files": {}}
    return (
        json.dumps(
            {
                "run": {"scenario": {"name": "s"}, "seed": 0, "replications": 1, **files},
                "sweep": {"sweep": {"name": "w"}, "points": 1, "runs": 1},
                "optimize": {"optimize": {"kind": "meus"}, **files},
                "compare": {"compare": {"a": "a", "b": "b"}, **files},
                "foreign": {"tool": "not jiefang"},
                "damaged": None,
            }[kind]
        )
        if kind != "damaged"
        else '{"scenario": '
    )


def results_folder(kind: str) -> dict[str, str]:
    """``out/`` holding what ``kind`` wrote: its manifest and a file that must survive."""
    return {"out/manifest.json": manifest(kind), "out/keep.txt": f"written by {kind}\n"}


def closed_port() -> int:
    """A local TCP port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------- cases
def folder_cases() -> list[Case]:
    cases = []
    sweep_files = {"w.yaml": "name: w\nbase: base.yaml\nreplications: 1\n", "base.yaml": BASE}
    commands = {
        "run": (["run", "{d}/s.yaml", "--out", "{d}/out", "-q"], {"s.yaml": SMALL}),
        "sweep": (["sweep", "{d}/w.yaml", "--out", "{d}/out", "-q"], sweep_files),
        "optimize": (
            ["optimize", "{d}/s.yaml", "--add", "meus=1", "--out", "{d}/out", "-q"],
            {"s.yaml": SMALL + "meus: {count: 2}\n"},
        ),
        "optimize-force": (
            ["optimize", "{d}/s.yaml", "--add", "meus=1", "--out", "{d}/out", "-q", "--force"],
            {"s.yaml": SMALL + "meus: {count: 2}\n"},
        ),
    }
    for command, (argv, files) in commands.items():
        own = command.split("-")[0]
        for kind in ("run", "sweep", "optimize", "compare", "foreign", "damaged"):
            if kind == own and command != "optimize":
                continue  # a command replaces (or resumes) its own folder
            cases.append(
                Case(FOLDERS, f"{command}-over-{kind}", {**files, **results_folder(kind)}, argv)
            )
    return cases


def memory_cases() -> list[Case]:
    raster = "city:\n  cell_size_m: 100\n  population_raster: pop.tif\n"
    sparse = geotiff(100_000, 100_000)
    cases = [
        Case(
            MEMORY,
            "geo-raster-100000x100000",
            {"s.yaml": SMALL + raster, "pop.tif": sparse},
            ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
        ),
        Case(
            MEMORY,
            "geo-raster-100000x100000-sweep-base",
            {
                "w.yaml": "name: w\nbase: s.yaml\nreplications: 1\n",
                "s.yaml": SMALL + raster,
                "pop.tif": sparse,
            },
            ["sweep", "{d}/w.yaml", "--out", "{d}/out", "-q"],
        ),
        Case(
            MEMORY,
            "geo-raster-100000x100000-view",
            {"s.yaml": SMALL + raster, "pop.tif": sparse},
            ["view", "{d}/s.yaml"],
        ),
        Case(
            MEMORY,
            "geo-raster-8001x8001-float64",
            {"s.yaml": SMALL + raster, "pop.tif": geotiff(8001, 8001, dtype="float64")},
            ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
        ),
    ]
    for name in ("st.geojson", "st.csv", "st.gpkg"):
        body = SMALL + FRAME + f"\npolice: {{stations_file: {name}}}\n"
        cases.append(
            Case(
                MEMORY,
                f"geo-points-file-65MiB-{name}",
                {"s.yaml": body, name: Sparse(65 << 20)},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    local = 'LOCAL_CS["site",UNIT["metre",1]]'
    for name, city in (("no-city-crs", raster), ("city-crs", raster + "  crs: 'EPSG:3067'\n")):
        cases.append(
            Case(
                LIBRARY,
                f"geo-raster-local-crs-{name}",
                {"s.yaml": SMALL + city, "pop.tif": geotiff(4, 4, crs=local)},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    for value in ("1e308", "1.7e308", "1e11", "inf"):
        pop = geotiff(4, 4, float(value), "float64")
        cases.append(
            Case(
                MEMORY,
                f"geo-raster-residents-{value}",
                {"s.yaml": SMALL + raster, "pop.tif": pop},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    for side, add, extra in (
        (4000, "meus=2", "meus: {count: 3}"),
        (4000, "police_posts=1", "police: {units: 4, stations: 2, grids: 8}"),
        (2000, "meus=2", "meus: {count: 3}"),
        (1000, "meus=2", "meus: {count: 3}\nincidents: {kinds: {a: {share: 1}}}"),
    ):
        body = SMALL + f"city: {{width: {side}, height: {side}}}\n{extra}\n"
        argv = ["optimize", "{d}/s.yaml", "--add", add, "--out", "{d}/out", "-q"]
        if side == 1000:
            argv += ["--budget-memory-gb", "0.5"]
        cases.append(Case(MEMORY, f"optimize-{side}x{side}-{add}", {"s.yaml": body}, argv))
    return cases


def library_cases() -> list[Case]:
    network = SMALL + FRAME + "\ntravel: {road_network: roads.graphml}\n"
    engineering = (
        'ENGCRS["site",EDATUM["d"],CS[Cartesian,2],AXIS["x",east],AXIS["y",north],'
        'LENGTHUNIT["metre",1]]'
    )
    graphs = {
        "engineering-crs": graphml(engineering, [(0, 1), (1, 2)]),
        "local-cs": graphml('LOCAL_CS["site"]', [(0, 1), (1, 2)]),
        "unknown-crs": graphml("EPSG:999999", [(0, 1), (1, 2)]),
        "self-loops": graphml("EPSG:4326", [(0, 0), (1, 1), (2, 2)]),
        "one-self-loop": graphml("EPSG:4326", [(1, 1)]),
    }
    cases = [
        Case(
            LIBRARY,
            f"geo-graphml-{name}",
            {"s.yaml": network, "roads.graphml": text},
            ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
        )
        for name, text in graphs.items()
    ]
    for name, crs in (
        ("unknown", "EPSG:999999"),
        ("engineering", engineering.replace('"', "'")),
        ("degrees", "EPSG:4326"),
        ("text", "not a crs"),
    ):
        city = f'city: {{crs: "{crs}", origin: [0, 0], width: 10, height: 10}}\n'
        cases.append(
            Case(
                LIBRARY,
                f"geo-city-crs-{name}",
                {"s.yaml": SMALL + city},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
        cases.append(
            Case(
                LIBRARY,
                f"geo-city-crs-{name}-extends",
                {"s.yaml": "extends: b.yaml\nname: s\n", "b.yaml": SMALL + city},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    stations = SMALL + FRAME + "\npolice: {stations_file: st.geojson}\n"
    crs_members: dict[str, object] = {
        "unknown-epsg": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::999999"}},
        "text": {"type": "name", "properties": {"name": "NOT A CRS"}},
        "link": {"type": "link", "properties": {"href": "http://example.com/crs"}},
        "number": 4326,
    }
    for name, member in crs_members.items():
        cases.append(
            Case(
                LIBRARY,
                f"geo-geojson-crs-{name}",
                {"s.yaml": stations, "st.geojson": points_geojson(member)},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    replay = SMALL + "incidents: {replay: log.csv}\n"
    for name, time in (
        ("1600", "1600-01-01T00:00"),
        ("1677", "1677-09-21T00:00"),
        ("2262", "2262-04-12T00:00"),
        ("9999", "9999-12-31T23:59"),
        ("0001-offset", "0001-01-01T00:00+14:00"),
    ):
        log = f"time,x_m,y_m,kind\n{time},1,1,disturbance\n"
        cases.append(
            Case(
                LIBRARY,
                f"replay-time-{name}",
                {"s.yaml": replay, "log.csv": log},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    ok_log = "time,x_m,y_m,kind\n2024-01-01T00:10,1,1,disturbance\n"
    for name, start in (("1600", "1600-01-01T00:00"), ("2300", "2300-01-01T00:00")):
        body = SMALL + f"incidents: {{replay: log.csv, replay_start: '{start}'}}\n"
        cases.append(
            Case(
                LIBRARY,
                f"replay-start-{name}",
                {"s.yaml": body, "log.csv": ok_log},
                ["run", "{d}/s.yaml", "--out", "{d}/out", "-q"],
            )
        )
    sweep = {"w.yaml": "name: w\nbase: base.yaml\nreplications: 1\n", "base.yaml": BASE}
    for name, address in (
        ("gopher", "gopher://x"),
        ("text", "x y"),
        ("udp", "udp://1.2.3.4:1"),
        ("port-0", "tcp://127.0.0.1:0"),
        ("port-70000", "tcp://h:70000"),
        ("empty", ""),
        ("refused", f"tcp://127.0.0.1:{closed_port()}"),
        ("refused-no-scheme", f"127.0.0.1:{closed_port()}"),
    ):
        cases.append(
            Case(
                LIBRARY,
                f"dask-scheduler-{name}",
                sweep,
                ["sweep", "{d}/w.yaml", "--out", "{d}/out", "-q", "--scheduler", address],
            )
        )
    long = "x" * 5000
    part = "y" * 300
    for name, argv in {
        "report-5000": ["report", f"{{d}}/{long}"],
        "plot-5000": ["plot", f"{{d}}/{long}"],
        "compare-5000": ["compare", f"{{d}}/{long}", f"{{d}}/{long}"],
        "report-300": ["report", f"{{d}}/{part}"],
        "plot-300": ["plot", f"{{d}}/{part}"],
        "compare-300": ["compare", f"{{d}}/{part}", f"{{d}}/{part}"],
        "report-300-deep": ["report", f"{{d}}/a/{part}/b"],
    }.items():
        cases.append(Case(LIBRARY, f"path-{name}", {}, argv))
    return cases


def view_cases() -> list[Case]:
    files = {"s.yaml": SMALL}
    return [
        Case(VIEW, f"host-{name}", files, ["view", "{d}/s.yaml", "--host", host])
        for name, host in (
            ("empty", ""),
            ("blank", "  "),
            ("star", "*"),
            ("bad-address", "1.2.3"),
            ("not-here", "192.0.2.1"),
        )
    ]


def argument_cases() -> list[Case]:
    files = {"s.yaml": SMALL + "meus: {count: 2}\npolice: {units: 4, stations: 2, grids: 8}\n"}
    return [
        Case(
            ARGUMENTS,
            f"add-{name}",
            files,
            ["optimize", "{d}/s.yaml", *adds, "--out", "{d}/out", "-q"],
        )
        for name, adds in (
            ("twice", ["--add", "meus=2", "--add", "meus=3"]),
            ("twice-same", ["--add", "meus=2", "--add", "meus=2"]),
            ("two-kinds", ["--add", "meus=2", "--add", "police_posts=1"]),
        )
    ]


def round_two_cases() -> list[Case]:
    return [*folder_cases(), *memory_cases(), *library_cases(), *view_cases(), *argument_cases()]
