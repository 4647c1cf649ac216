"""The report a planner reads (issue 25), in Debian's chromium driven by Playwright: the
headline table is there, every figure is shown, and raw JSON appears only in the collapsed
appendix; a sweep's report states the sweep's own horizon and replications."""

from __future__ import annotations

import re

import pytest

from sim.interface.cli import main
from tests.conftest import SCENARIOS
from tests.test_browser import CHROMIUM_FLAGS, chromium  # noqa: F401  (the fixture)

#: Text that only a JSON dump shows: a quoted key followed by a colon.
JSON_KEY = re.compile(r'"[A-Za-z_][A-Za-z0-9_.]*"\s*:')


def _page_facts(chromium_path: str, report) -> dict:
    from playwright.sync_api import sync_playwright

    failures: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("pageerror", lambda e: failures.append(str(e)))
        page.goto(report.as_uri(), wait_until="load")
        facts = page.evaluate("""() => {
            const outside = document.body.cloneNode(true);
            outside.querySelectorAll('details').forEach(d => d.remove());
            const details = Array.from(document.querySelectorAll('details'));
            const headline = document.querySelector('#headline');
            let table = headline ? headline.nextElementSibling : null;
            while (table && table.tagName !== 'TABLE' && table.tagName !== 'H2') {
              table = table.nextElementSibling;
            }
            return {
              images: Array.from(document.images).map(
                i => [i.alt, i.complete, i.naturalWidth, i.getBoundingClientRect().width]),
              figures: document.querySelectorAll('figure').length,
              headline_rows: table && table.tagName === 'TABLE' ? table.rows.length : 0,
              outside: outside.innerText,
              details_open: details.map(d => d.open),
              details_text: details.map(d => d.textContent).join('\\n'),
              visible_details: details.map(d => d.querySelector('pre') ?
                  d.querySelector('pre').checkVisibility() : null),
            };
        }""")
        browser.close()
    facts["failures"] = failures
    return facts


@pytest.mark.slow
def test_run_report_reads_as_a_report(chromium, tmp_path):  # noqa: F811
    out = tmp_path / "demo"
    assert main(["run", str(SCENARIOS / "demo.yaml"), "-q", "-r", "2", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    facts = _page_facts(chromium, out / "report.html")
    assert not facts["failures"], facts["failures"]
    # Headline: a header row and one row per tier of the demo (self, mutual, police, joint).
    assert facts["headline_rows"] == 5
    names = sorted(alt for alt, *_ in facts["images"])
    tiers = ["joint", "mutual", "police", "self"]
    assert names == sorted(["by_kind", "city_map", "hour_profile", "response_ecdf",
                            *(f"zones_{t}" for t in tiers),
                            *(f"hours_{t}" for t in tiers)])  # fmt: skip
    assert facts["figures"] == len(names)
    assert all(done and natural > 300 and shown > 300
               for _, done, natural, shown in facts["images"]), facts["images"]  # fmt: skip
    # Findings written from the numbers, with the clock named.
    assert "timed from the alert: met for" in facts["outside"]
    assert "jiefang optimize" in facts["outside"]
    # Raw JSON only in the appendix, which is collapsed.
    assert not JSON_KEY.search(facts["outside"]), JSON_KEY.search(facts["outside"])
    assert facts["details_open"] == [False]
    assert facts["visible_details"] == [False]  # collapsed: not shown until opened
    assert JSON_KEY.search(facts["details_text"])


@pytest.mark.slow
def test_sweep_report_shows_the_sweeps_own_settings(chromium, tmp_path):  # noqa: F811
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"name: tiny\nbase: {SCENARIOS / 'guangzhou-2023-subdistrict.yaml'}\n"
                     "seed: 4\nreplications: 2\nset: {horizon_hours: 30, warmup_hours: 2}\n"
                     "grid: {meus.count: [0, 135]}\n")  # fmt: skip
    out = tmp_path / "sw"
    assert main(["sweep", str(sweep), "-q", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0
    facts = _page_facts(chromium, out / "report.html")
    assert not facts["failures"], facts["failures"]
    text = facts["outside"]
    assert "2 points x 2 replications = 4 runs, seed 4; each run 30 h" in text
    assert "482" not in text  # the base scenario's own horizon is not the sweep's
    assert facts["headline_rows"] >= 2
    assert all(done and natural > 300 for _, done, natural, _ in facts["images"])
    assert not JSON_KEY.search(text)
    assert facts["details_open"] == [False]
