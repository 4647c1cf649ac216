"""The documentation: every link stays inside the repository, the sources and calibration
figures the docs cite live in it, the site builds with ``mkdocs build --strict`` and the
tutorial notebook runs as stored."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SOURCES = DOCS / "sources.md"
TUTORIAL = DOCS / "tutorial.ipynb"

FENCED = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.S | re.M)
CODE_SPAN = re.compile(r"`+[^`\n]*`+")
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.M)
HTML_LINK = re.compile(r"\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.I)
WEB_SCHEMES = {"http", "https", "mailto"}


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def link_targets(text: str) -> list[str]:
    """Every link target of a Markdown text (inline, reference and HTML), code left out."""
    prose = CODE_SPAN.sub("", FENCED.sub("", text))
    return [
        m.group(1) for rx in (INLINE_LINK, REFERENCE_LINK, HTML_LINK) for m in rx.finditer(prose)
    ]


def link_problems(doc: Path, root: Path) -> list[str]:
    """Links of ``doc`` that leave ``root`` or name nothing: web links and in-page anchors
    pass (mkdocs --strict checks the anchors); a relative link must name a file in ``root``."""
    problems = []
    for target in link_targets(doc.read_text(encoding="utf-8")):
        scheme = SCHEME.match(target)
        if (scheme and scheme.group(1).lower() in WEB_SCHEMES) or target.startswith("#"):
            continue
        where = f"{doc.relative_to(root)}: {target}"
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if scheme or path.startswith(("/", "\\")):
            problems.append(f"{where} (absolute: link relative to the document)")
            continue
        resolved = (doc.parent / path).resolve()
        if not resolved.is_relative_to(root):
            problems.append(f"{where} (outside the repository)")
        elif not resolved.exists():
            problems.append(f"{where} (no such file)")
    return problems


def test_link_check_finds_links_that_leave_the_repository(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "real.md").write_text("# Real\n", encoding="utf-8")
    doc = tmp_path / "docs" / "page.md"
    doc.write_text(
        "[a](../../shared/sources.md) and [b](missing.md) and ![c](/etc/passwd)\n"
        "[d](file:///etc/passwd) [ok](real.md#real) [web](https://example.org/x) [top](#x)\n"
        '<img src="../../outside.png">\n[e]: <gone.md>\n'
        "```\n[not a link](../nowhere.md)\n```\n`[nor this](../nowhere.md)`\n",
        encoding="utf-8",
    )
    assert link_problems(doc, tmp_path) == [
        "docs/page.md: ../../shared/sources.md (outside the repository)",
        "docs/page.md: missing.md (no such file)",
        "docs/page.md: /etc/passwd (absolute: link relative to the document)",
        "docs/page.md: file:///etc/passwd (absolute: link relative to the document)",
        "docs/page.md: gone.md (no such file)",
        "docs/page.md: ../../outside.png (outside the repository)",
    ]


def test_links_to_repository_files_that_are_not_pages_show_as_paths_in_the_site(tmp_path):
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from repo_links import site_text
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    docs = tmp_path / "docs"
    (docs / "img").mkdir(parents=True)
    (tmp_path / "tests" / "plugins").mkdir(parents=True)
    (tmp_path / "sim.py").write_text("", encoding="utf-8")
    page = (
        "See [the plug-in](../tests/plugins) and [`sim.py`](../sim.py#L3), [a page](other.md),\n"
        "[gone](../gone.py), [web](https://example.org), ![img](img/x.png), [up](../../x.md)\n"
        "```\n[kept](../sim.py)\n```\n"
    )
    assert site_text(page, docs, docs.resolve(), tmp_path.resolve()) == (
        "See the plug-in (`tests/plugins`) and `sim.py`, [a page](other.md),\n"
        "[gone](../gone.py), [web](https://example.org), ![img](img/x.png), [up](../../x.md)\n"
        "```\n[kept](../sim.py)\n```\n"
    )


def test_every_link_in_the_docs_resolves_inside_the_repository():
    docs = documents()
    assert len(docs) > 10 and SOURCES in docs
    problems = [p for doc in docs for p in link_problems(doc, ROOT)]
    assert problems == []


def test_no_document_cites_the_shared_folder_a_clone_lacks():
    texts = [*documents(), TUTORIAL, ROOT / "mkdocs.yml", ROOT / "CONTRIBUTING.md"]
    texts += [*ROOT.glob("scenarios/**/*.yaml"), ROOT / "tools" / "calibration.py"]
    citing = [str(p.relative_to(ROOT)) for p in texts if "../shared" in p.read_text("utf-8")]
    assert citing == []


def nav_pages() -> list[str]:
    """The pages mkdocs.yml's nav names (its ``!ENV`` tags read as their defaults)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!ENV", lambda loader, node: loader.construct_sequence(node)[-1])
    # A Python name (the Mermaid fence's formatter) is only a name here: nothing is imported.
    Loader.add_multi_constructor(
        "tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix
    )
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)

    def walk(entry) -> list[str]:
        if isinstance(entry, str):
            return [entry]
        if isinstance(entry, list):
            return [page for item in entry for page in walk(item)]
        return [page for item in entry.values() for page in walk(item)]

    return walk(config["nav"])


def test_every_page_of_the_docs_is_in_the_site_nav():
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")} | {TUTORIAL.name}
    nav = nav_pages()
    assert "index.md" in nav and len(nav) == len(set(nav))
    assert {"left out of mkdocs.yml's nav": sorted(pages - set(nav))} == {
        "left out of mkdocs.yml's nav": []
    }
    assert sorted(set(nav) - pages) == []  # and the nav names no page that is not there


def cited_seeds() -> dict[str, set[str]]:
    """Seed articles cited by number ("seed 002") in the scenario files and the calibration
    tables: seed -> the files citing it."""
    files = [*ROOT.glob("scenarios/**/*.yaml"), *ROOT.glob("sim/**/*.yaml")]
    files.append(ROOT / "tools" / "calibration.py")
    seeds: dict[str, set[str]] = {}
    for path in files:
        for seed in re.findall(r"\bseed (\d{3})\b", path.read_text(encoding="utf-8")):
            seeds.setdefault(seed, set()).add(str(path.relative_to(ROOT)))
    return seeds


def test_every_seed_article_cited_has_its_entry_on_the_sources_page():
    listed = set(re.findall(r"^### seed (\d{3})$", SOURCES.read_text("utf-8"), re.M))
    cited = cited_seeds()
    assert {"000", "001", "002", "003", "004"} <= set(cited)
    assert {seed: files for seed, files in cited.items() if seed not in listed} == {}


def test_every_published_figure_names_a_source_on_the_sources_page():
    from tools.calibration import PUBLISHED

    page = SOURCES.read_text(encoding="utf-8")
    # "Guangzhou police, 10 Jan 2023" and "Guangzhou police 2023" both name "Guangzhou police".
    named = {
        re.split(r",| \d{4}$", part.strip())[0]
        for where in (row[2] for row in PUBLISHED)
        for part in where.split(";")
    }
    assert len(named) > 5
    missing = {n for n in named if n not in page and f"### {n}" not in page}
    assert missing == set()
    scenario_text = "\n".join(p.read_text("utf-8") for p in ROOT.glob("scenarios/**/*.yaml"))
    authors = set(re.findall(r"\b([A-Z][a-z]+ et al\.)", scenario_text))
    assert authors and {a for a in authors if a not in page} == set()


def test_the_calibration_figures_the_docs_cite_are_in_the_repository():
    from tools.calibration import MEASURED, PUBLISHED

    assert MEASURED.parent == DOCS and (DOCS / "calibration.md").is_file()
    measured = json.loads(MEASURED.read_text(encoding="utf-8"))
    wanted = {(row[3], row[4]) for row in PUBLISHED}
    assert {(sc, m) for sc, m in wanted if m not in measured.get(sc, {}).get("values", {})} == set()


def test_the_tutorial_is_stored_without_outputs():
    import nbformat

    nb = nbformat.read(TUTORIAL, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) > 10
    assert [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None] == []


def files_under(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
    }


def jupyter_path(kernels: Path) -> str:
    """JUPYTER_PATH for the build: a ``python3`` kernel of this very interpreter (installed
    under ``kernels``, so whatever kernels the machine has registered are not used) and the
    data folder of the environment nbconvert is installed in (its templates live there),
    which need not be sys.prefix: a venv may borrow another's packages."""
    import nbconvert
    from ipykernel.kernelspec import install

    install(kernel_name="python3", prefix=str(kernels))
    prefix = Path(nbconvert.__file__).resolve().parents[4]
    folders = [kernels / "share" / "jupyter", prefix / "share" / "jupyter"]
    return os.pathsep.join([*map(str, folders), *filter(None, [os.environ.get("JUPYTER_PATH")])])


@pytest.mark.slow
def test_the_site_builds_strictly_and_runs_the_tutorial(tmp_path):
    before = files_under(DOCS)
    site, out = tmp_path / "site", tmp_path / "tutorial-out"
    env = {
        **os.environ,
        "JUPYTER_PATH": jupyter_path(tmp_path / "kernel"),
        "JIEFANG_DOCS_EXECUTE": "true",
        "JIEFANG_TUTORIAL_OUT": str(out),
        "NO_MKDOCS_2_WARNING": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site),
         "--config-file", str(ROOT / "mkdocs.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    api = (site / "api" / "model" / "index.html").read_text(encoding="utf-8")
    assert "ResponseModel" in api and "advance_to" in api
    config = (site / "api" / "config" / "index.html").read_text(encoding="utf-8")
    assert "load_scenario" in config and "horizon_hours" in config and ":class:`" not in config
    assert "seed 002" in (site / "sources" / "index.html").read_text(encoding="utf-8")

    # The tutorial ran in the build (a failing cell fails it) and wrote only under its OUT.
    tutorial = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert tutorial.count("data:image/png;base64") >= 4 and "by hand" in tutorial
    for name in ("today/incidents.parquet", "today/summary.csv", "six-police-units/manifest.json",
                 "sweep/points.parquet", "sweep/paired.parquet", "today/figures/city_map.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert files_under(DOCS) == before  # nothing written into the sources
