"""MkDocs hook: links from a page to repository files that are not pages.

A page may link to a file of the repository outside docs/ (a test, a module, a scenario):
the link works where the Markdown is read in the repository, but the site has no page for
it, and `mkdocs build --strict` refuses it. In the site such a link shows as the link text
with the file's path in code. A link to a path that does not exist is left as it is, for
the strict build (and tests/test_docs.py) to report; fenced code is never touched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

LINK = re.compile(r"(?<!!)\[([^\]\n]+)\]\(\s*([^)\s#?]+)([#?][^)\s]*)?\s*\)")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def site_text(markdown: str, page_dir: Path, docs: Path, root: Path) -> str:
    """``markdown`` with each link to an existing repository file outside ``docs`` shown as
    text and the file's path."""

    def shown(m: re.Match[str]) -> str:
        text, target = m.group(1), m.group(2)
        if SCHEME.match(target) or target.startswith("/"):
            return m.group(0)
        path = (page_dir / target).resolve()
        if path.is_relative_to(docs) or not path.is_relative_to(root) or not path.exists():
            return m.group(0)
        name = path.relative_to(root).as_posix()
        return f"`{name}`" if text.strip("`") == name else f"{text} (`{name}`)"

    out, fence = [], None
    for line in markdown.splitlines(keepends=True):
        opened = FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None and opened and opened.group(1) == fence:
            fence = None
        elif fence is None:
            line = LINK.sub(shown, line)
        out.append(line)
    return "".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    root = Path(config["config_file_path"]).resolve().parent
    return site_text(markdown, Path(page.file.abs_src_path).parent, docs, root)
