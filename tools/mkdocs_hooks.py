"""MkDocs hooks for the spikebit site.

Docstrings cite other objects with reST roles (``:class:`LIFState```) that read well in
``help()``; in the rendered API pages the role prefix is dropped and the code span kept.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|mod|attr|exc|obj|const):(?=<code>)")


def on_page_content(html: str, **_: object) -> str:
    """Drop reST role prefixes in front of code spans."""
    return _ROLE.sub("", html)
