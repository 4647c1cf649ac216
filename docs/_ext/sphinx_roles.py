"""A griffe extension for the API reference: Sphinx roles in docstrings become code.

The package's docstrings name other objects the Sphinx way (:class:`Scenario`,
:func:`~sim.run`); mkdocstrings reads Markdown, where the role would show as text. Each role
becomes an inline code span with the name as written (a leading ``~`` dropped), so nothing
has to resolve for the strict build to pass.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """Docstring text with every Sphinx cross-reference role turned into a code span."""
    return ROLE.sub(r"`\1`", text)


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
