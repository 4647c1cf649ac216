"""Road networks read from an OpenStreetMap ``.osm.pbf`` (pyrosm) or a GraphML file.

The streets become a :class:`sim.model.roads.RoadNetwork` in grid metres: nodes projected
through the city's frame, edges of their stated length (never shorter than the straight line
between their nodes, which keeps straight-line pre-filters exact). Only the largest connected
part is kept: a trip between any two cells on the network is then finite, and a cell whose
nearest node of that part is farther than ``road_snap_m`` is off the network (unreachable).
Water and bridges are the data's: streets cross water only on bridges.

GraphML follows OSMnx's convention: node attributes ``x``/``y`` in the graph's ``crs``
attribute (lon/lat when it is ``EPSG:4326``), edge attribute ``length`` in metres (the
straight line when absent).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from sim.geo.crs import LONLAT, GridFrame
from sim.model.config.errors import ScenarioError
from sim.model.roads import RoadNetwork


def load_roads(
    path: Path, network_type: str, frame: GridFrame, width: int, height: int,
    cell_size_m: float, snap_m: float, where: str,
) -> RoadNetwork:  # fmt: skip
    """The road network of ``path`` on the grid (cached per file, frame and grid).

    Args:
        path: an ``.osm.pbf`` or ``.graphml`` file.
        network_type: pyrosm's network_type for a pbf ("driving", "walking", "all").
        frame: the grid's place on the Earth.
        width: grid width, cells.
        height: grid height, cells.
        cell_size_m: side of a cell, m.
        snap_m: a cell farther than this from every node is off the network, m.
        where: the file and key, for messages.
    """
    try:
        st = path.stat()
    except OSError:
        raise ScenarioError(f"{where}: cannot read the file") from None
    key = (str(path), st.st_mtime_ns, st.st_size, network_type, frame, width, height,
           cell_size_m, snap_m)  # fmt: skip
    # Cached per file and grid (not per message): loading the scenario and building each
    # replication's city share one network, its searches and tiles.
    got = _LOADED.get(key)
    if got is None:
        got = _load(path, network_type, frame, width, height, cell_size_m, snap_m, where)
        if len(_LOADED) >= 2:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = got
    return got


_LOADED: dict[tuple, RoadNetwork] = {}


def _load(path, network_type, frame, width, height, cell_size_m, snap_m, where):
    suffix = path.name.lower()
    if suffix.endswith(".osm.pbf") or suffix.endswith(".pbf"):
        lon, lat, u, v, length = _read_pbf(path, network_type, where)
        e, n = _project(lon, lat, LONLAT, frame, where)
    elif suffix.endswith(".graphml"):
        x, y, crs, u, v, length = _read_graphml(path, where)
        e, n = _project(x, y, crs, frame, where)
    else:
        raise ScenarioError(f"{where}: unknown file type (expected .osm.pbf or .graphml)")
    gx, gy = frame.from_crs(e, n)
    return graph_on_grid(np.stack([gx, gy], axis=1), u, v, length, width, height, cell_size_m,
                         snap_m, where)  # fmt: skip


def graph_on_grid(
    node_xy: np.ndarray, u: np.ndarray, v: np.ndarray, length: np.ndarray | None, width: int,
    height: int, cell_size_m: float, snap_m: float, where: str = "road network",
) -> RoadNetwork:  # fmt: skip
    """A :class:`RoadNetwork` of the largest connected part of a graph in grid metres.

    Args:
        node_xy: (n, 2) node positions, grid metres.
        u: edge start node indices.
        v: edge end node indices.
        length: edge lengths, m (None: straight lines); each is raised to the straight line.
        width: grid width, cells.
        height: grid height, cells.
        cell_size_m: side of a cell, m.
        snap_m: a cell farther than this from every node is off the network, m.
        where: the file and key, for messages.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    u, v = np.asarray(u, np.int64), np.asarray(v, np.int64)
    n = node_xy.shape[0]
    if n == 0 or u.size == 0:
        raise ScenarioError(f"{where}: the road network has no streets")
    straight = np.hypot(*(node_xy[u] - node_xy[v]).T)
    length = straight if length is None else np.asarray(length, float)
    length = np.where(np.isfinite(length), np.maximum(length, straight), straight)
    # csgraph reads an explicit zero as no edge: a zero-length edge keeps a millimetre.
    length = np.maximum(length, 1e-3)
    keep = u != v
    u, v, length = u[keep], v[keep], length[keep]
    if u.size == 0:
        raise ScenarioError(f"{where}: the road network has no streets (every edge is a loop)")
    # Both directions; of parallel edges the shortest (coo would sum duplicates).
    a, b = np.r_[u, v], np.r_[v, u]
    w = np.r_[length, length]
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    graph = coo_matrix((w[first], (a[first], b[first])), shape=(n, n)).tocsr()
    _, label = connected_components(graph, directed=False)
    main = np.bincount(label).argmax()
    nodes = np.flatnonzero(label == main)
    sub = graph[nodes][:, nodes].tocsr()
    inside = (
        (node_xy[nodes, 0] >= -snap_m) & (node_xy[nodes, 1] >= -snap_m)
        & (node_xy[nodes, 0] <= width * cell_size_m + snap_m)
        & (node_xy[nodes, 1] <= height * cell_size_m + snap_m)
    )  # fmt: skip
    if not inside.any():
        raise ScenarioError(f"{where}: no street of the network lies on the grid")
    return RoadNetwork(node_xy[nodes], sub, width, height, cell_size_m, snap_m, where)


def _project(x, y, crs, frame: GridFrame, where: str):
    from pyproj import Transformer
    from pyproj.exceptions import ProjError

    # ProjError: every pyproj error (CRSError for an unknown CRS is one; an engineering CRS
    # is known but has no transformation into city.crs).
    try:
        tr = Transformer.from_crs(crs, frame.crs, always_xy=True)
        e, n = tr.transform(np.asarray(x, float), np.asarray(y, float))
    except ProjError:
        raise ScenarioError(
            f"{where}: the network's CRS is not one pyproj knows or can transform into city.crs"
        ) from None
    e, n = np.asarray(e, float), np.asarray(n, float)
    if not (np.all(np.isfinite(e)) and np.all(np.isfinite(n))):
        raise ScenarioError(f"{where}: some street nodes do not transform into city.crs")
    return e, n


def _read_pbf(path: Path, network_type: str, where: str):
    from sim.extras import require

    require("geo")
    import pyrosm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyrosm warns about pandas/shapely internals
            osm = pyrosm.OSM(str(path))
            got = osm.get_network(network_type=network_type, nodes=True)
    except Exception:  # pyrosm raises many kinds (protobuf, KeyError...) for a damaged file
        raise ScenarioError(
            f"{where}: cannot read the file as an OpenStreetMap .osm.pbf (damaged?)"
        ) from None
    if got is None or got[0] is None or len(got[1]) == 0:
        raise ScenarioError(f"{where}: the file holds no {network_type} streets")
    nodes, edges = got
    index = {int(i): k for k, i in enumerate(nodes["id"].to_numpy())}
    try:
        u = np.array([index[int(i)] for i in edges["u"].to_numpy()], np.int64)
        v = np.array([index[int(i)] for i in edges["v"].to_numpy()], np.int64)
    except KeyError:
        raise ScenarioError(f"{where}: a street refers to a node the file lacks") from None
    length = edges["length"].to_numpy(dtype=float) if "length" in edges else None
    return nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float), u, v, length


def _read_graphml(path: Path, where: str):
    import networkx as nx

    try:
        g = nx.read_graphml(path)
    except Exception:  # lxml/ElementTree and networkx errors for a damaged file
        raise ScenarioError(f"{where}: cannot read the file as GraphML (damaged?)") from None
    crs = g.graph.get("crs")
    if not crs:
        raise ScenarioError(
            f"{where}: the graph has no CRS (a graph attribute crs, e.g. EPSG:4326, is expected)"
        )
    ids = list(g.nodes)
    index = {k: i for i, k in enumerate(ids)}
    try:
        x = np.array([float(g.nodes[k]["x"]) for k in ids])
        y = np.array([float(g.nodes[k]["y"]) for k in ids])
    except (KeyError, TypeError, ValueError):
        raise ScenarioError(f"{where}: every node needs numeric x and y attributes") from None
    u, v, length = [], [], []
    for a, b, data in g.edges(data=True):
        u.append(index[a])
        v.append(index[b])
        try:
            length.append(float(data.get("length", "nan")))
        except (TypeError, ValueError):
            raise ScenarioError(f"{where}: an edge's length is not a number") from None
    return x, y, str(crs), np.array(u, np.int64), np.array(v, np.int64), np.array(length)
