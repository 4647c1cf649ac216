"""Sweep keys whose values are lists (24 hourly shares), alone or mixed with single values:
the sweep, its printed tables, `jiefang report` and `jiefang plot` all work, and every table
holds one label per value (its canonical JSON) where a scalar column is needed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.experiment.sweep import load_sweep
from sim.interface.cli import main
from tests.conftest import TINY_SWEEP_BASE

BASE = TINY_SWEEP_BASE
FLAT = [0.1] * 24
PEAK = [0.05] * 8 + [0.3] * 8 + [0.1] * 8
KEY = "volunteers.on_duty_share"


def write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(BASE)
    path = folder / "sweep.yaml"
    head = "base: base.yaml\nseed: 3\nreplications: 2\n"
    path.write_text(head + textwrap.dedent(body))
    return path


def sweep_then_draw(path: Path, out: Path, capsys) -> tuple[str, str]:
    """`jiefang sweep`, then `report` and `plot` on its folder, each exit 0; returns what
    the sweep printed and the report's page."""
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "Traceback" not in printed.err, printed.err
    assert main(["report", str(out), "--out", str(out / "report.html")]) == 0
    assert main(["plot", str(out)]) == 0
    capsys.readouterr()
    return printed.out, (out / "report.html").read_text()


@pytest.fixture(scope="module")
def list_sweep(tmp_path_factory):
    """Two hourly duty profiles (lists) against two police staffings; the baseline is a
    grid point (flat profile, one unit), so every value of the key is a list."""
    root = tmp_path_factory.mktemp("lists")
    path = write(
        root,
        f"""\
        name: lists
        grid:
          {KEY}: [{FLAT}, {PEAK}]
          police.units: [1, 3]
        baseline: {{{KEY}: {FLAT}, police.units: 1}}
    """,
    )
    return path, root / "out"


@pytest.fixture(scope="module")
def mixed_sweep(tmp_path_factory):
    """One key mixing a single share and a profile, with two more keys (a facet); the
    baseline is the base scenario's own values, an extra arm."""
    root = tmp_path_factory.mktemp("mixed")
    path = write(
        root,
        f"""\
        name: mixed
        grid:
          {KEY}: [0.1, {PEAK}]
          police.units: [1, 3]
          meus.count: [0, 4]
    """,
    )
    return path, root / "out"


def test_labels_are_canonical_json_and_display_is_short():
    from sim.analysis.values import value_label, value_text

    assert value_label(FLAT) == json.dumps(FLAT, separators=(",", ":"))
    assert json.loads(value_label(PEAK)) == PEAK  # the exact value, back from its label
    assert value_text(FLAT) == "[0.1 x24]"
    assert value_text(value_label(PEAK)) == "[0.05 x8, 0.3 x8, 0.1 x8]"
    ragged = [round(0.01 * h + 0.001 * h * h, 6) for h in range(24)]
    shown = value_text(ragged)
    assert shown.startswith("[24 values, mean ") and len(shown) < 45
    assert shown != value_text([*ragged[:-1], 0.9])  # profiles alike on average differ
    assert value_text(0.25) == "0.25" and value_text("0.25") == "0.25"


def test_list_sweep_end_to_end(list_sweep, capsys):
    path, out = list_sweep
    printed, page = sweep_then_draw(path, out, capsys)
    from sim.analysis.values import value_label

    flat, peak = value_label(FLAT), value_label(PEAK)
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(dict.fromkeys(runs[KEY])) == [flat, peak]
    assert runs[KEY].map(type).eq(str).all()
    assert runs["police.units"].dtype.kind == "i"  # scalar keys keep their type
    points = pd.read_parquet(out / "points.parquet")
    assert set(points[KEY]) == {flat, peak}
    paired = pd.read_parquet(out / "paired.parquet")
    assert set(paired[KEY]) == {flat, peak}
    # The exact values stay in the manifest (the sweep as written, and the baseline).
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sweep"]["grid"][KEY] == [FLAT, PEAK]
    assert manifest["baseline"]["values"][KEY] == FLAT
    # Printed and reported with the short labels, never the 24 numbers.
    for text in (printed, page):
        assert "[0.1 x24]" in text and "[0.05 x8, 0.3 x8, 0.1 x8]" in text
        assert flat not in text.replace(json.dumps(FLAT), "")  # only in the manifest's JSON
    assert f"{KEY}=[0.1 x24]" in printed  # the baseline line
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {f"compliance_vs_{KEY}.png", f"difference_vs_{KEY}.svg",
            "heatmap_joint_compliance.png"} <= figures  # fmt: skip


def test_list_key_is_a_category_axis_in_the_figures(list_sweep, capsys):
    from sim.analysis import plots
    from sim.experiment.report import sweep_figures

    path, out = list_sweep
    if not (out / "points.parquet").exists():
        assert main(["sweep", str(path), "--out", str(out), "-q"]) == 0
    figures = sweep_figures(out)
    try:
        for name in (f"compliance_vs_{KEY}", f"difference_vs_{KEY}"):
            ax = figures[name].axes[0]
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            assert ticks == ["[0.1 x24]", "[0.05 x8, 0.3 x8, 0.1 x8]"], (name, ticks)
            drawn = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
            assert drawn, name  # both profiles drawn, at positions 0 and 1
            for line in drawn:
                assert sorted(float(x) for x in line.get_xdata()) == pytest.approx([0, 1], abs=0.05)
        heat = figures["heatmap_joint_compliance"].axes[0]
        assert [t.get_text() for t in heat.get_xticklabels()] == [
            "[0.1 x24]",
            "[0.05 x8, 0.3 x8, 0.1 x8]",
        ]
    finally:
        for fig in figures.values():
            plots.plt.close(fig)


def test_mixed_sweep_end_to_end(mixed_sweep, capsys):
    path, out = mixed_sweep
    printed, page = sweep_then_draw(path, out, capsys)
    from sim.analysis.values import value_label

    peak = value_label(PEAK)
    runs = pd.read_parquet(out / "runs.parquet")
    # One column type for the key: single values and lists are both labels; the extra arm
    # too (the base scenario's own 0.05, which the scenario holds as 24 hourly values).
    base = value_label([0.05] * 24)
    assert runs[KEY].map(type).eq(str).all()
    assert list(dict.fromkeys(runs[KEY])) == [base, "0.1", peak]  # the arm (-1) first
    assert set(runs.loc[runs.point_id == -1, KEY]) == {base}
    points = pd.read_parquet(out / "points.parquet")
    assert set(points[KEY]) == {"0.1", peak}
    marginal = pd.read_parquet(out / "marginal.parquet")
    assert set(marginal["key"]) == {"police.units", "meus.count"}
    assert set(marginal[KEY]) == {"0.1", peak}  # held fixed: labelled like everywhere
    for text in (printed, page):
        assert "[0.05 x8, 0.3 x8, 0.1 x8]" in text
    assert f"{KEY}=[0.05 x24]" in printed
    figures = {p.stem for p in (out / "figures").iterdir()}
    assert {f"compliance_vs_{KEY}", "compliance_vs_meus.count", f"difference_vs_{KEY}"} <= figures


def test_scalar_sweeps_keep_their_columns_and_keys(tmp_path):
    """Labels are only for keys that need them: a scalar sweep's tables and run keys are
    what they were (tests/test_sweep_store.py compares its tables byte for byte); run keys
    come from the scenarios, which labels never touch."""
    from sim.analysis.values import table_values

    path = write(tmp_path, "name: plain\ngrid: {police.units: [1, 3], meus.count: [0, 4]}\n")
    sweep = load_sweep(path)
    values = table_values(sweep.arms)
    assert all(values[p.point_id] is p.values for p in sweep.arms)


def test_folders_written_before_labels_still_report_and_plot(list_sweep, capsys, tmp_path):
    """A list sweep written before this fix has Parquet list columns (its tables were
    written, then the printed table crashed): report and plot read them as labels."""
    import hashlib
    import shutil

    from sim.analysis.values import value_label
    from sim.experiment.results import open_sweep

    path, out = list_sweep
    if not (out / "points.parquet").exists():
        assert main(["sweep", str(path), "--out", str(out), "-q"]) == 0
    old = tmp_path / "old"
    shutil.copytree(out, old, ignore=shutil.ignore_patterns("figures", "report.html"))
    manifest = json.loads((old / "manifest.json").read_text())
    for name in ("points", "paired", "marginal"):
        table = pd.read_parquet(old / f"{name}.parquet")
        if KEY in table.columns:  # as the old code wrote it: the lists themselves
            table[KEY] = table[KEY].map(json.loads)
        table.to_parquet(old / f"{name}.parquet", index=False)
        digest = hashlib.sha256((old / f"{name}.parquet").read_bytes()).hexdigest()
        manifest["files"][name]["sha256"] = digest
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert isinstance(pd.read_parquet(old / "points.parquet")[KEY].iloc[0], np.ndarray)
    assert set(open_sweep(old).points[KEY]) == {value_label(FLAT), value_label(PEAK)}
    assert main(["report", str(old), "--out", str(old / "report.html")]) == 0
    assert main(["plot", str(old)]) == 0
    assert "[0.05 x8, 0.3 x8, 0.1 x8]" in (old / "report.html").read_text()
