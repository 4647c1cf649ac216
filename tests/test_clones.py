"""No block of 10 or more lines is written twice in the model (issue 22: every rule in one place).

A small clone detector: each source line is folded (white space, comments and blank lines,
import lines and lone punctuation passed over), and every run of ``WINDOW`` folded lines is
keyed by its text. A key that stands in two places that do not overlap is a duplicated block.
It finds copies to the letter (after folding), which is what a rule kept float-identical by
hand in two loops looks like; it is checked against a planted copy so it can fail.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10
_THIN = re.compile(r"^[\s()\[\]{},:;]*$")


def _folded(text: str) -> list[tuple[int, str]]:
    """(line number, folded line) for the lines that carry code."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0].strip() if not line.lstrip().startswith(("'", '"')) else line
        code = " ".join(code.split())
        if not code or _THIN.match(code) or code.startswith(("import ", "from ")):
            continue
        out.append((number, code))
    return out


def clones(sources: dict[str, str], window: int = WINDOW) -> list[tuple[str, int, str, int]]:
    """Pairs (file, first line, file, first line) of blocks of ``window`` folded lines that
    stand twice without overlapping."""
    seen: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for name, text in sources.items():
        lines = _folded(text)
        for i in range(len(lines) - window + 1):
            key = "\n".join(code for _, code in lines[i : i + window])
            seen[key].append((name, lines[i][0], lines[i + window - 1][0]))
    pairs = []
    for places in seen.values():
        for a in range(len(places)):
            for b in range(a + 1, len(places)):
                (fa, sa, ea), (fb, sb, eb) = places[a], places[b]
                if fa != fb or eb < sa or ea < sb:
                    pairs.append((fa, sa, fb, sb))
    return pairs


def _model_sources() -> dict[str, str]:
    files = sorted((ROOT / "sim" / "model").rglob("*.py"))
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files}


def test_no_block_of_ten_lines_is_written_twice_in_the_model():
    found = clones(_model_sources())
    assert found == [], f"duplicated blocks of {WINDOW}+ lines: {found[:5]}"


def test_the_detector_finds_a_planted_copy_and_ignores_thin_lines():
    sources = _model_sources()
    _, text = max(sources.items(), key=lambda kv: len(_folded(kv[1])))
    block = "\n".join(code for _, code in _folded(text)[:WINDOW])
    planted = dict(sources, **{"planted.py": "def f():\n" + block + "\n"})
    assert any("planted.py" in (fa, fb) for fa, _, fb, _ in clones(planted))
    # punctuation, comments, imports and blank lines alone make no block
    thin = "\n".join(["import os", "# a comment", "", ")", "],"] * 5)
    assert clones({"a.py": thin, "b.py": thin}) == []
