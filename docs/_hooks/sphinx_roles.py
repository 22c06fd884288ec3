"""mkdocs hook: the docstrings are written for Sphinx; show their roles as plain code.

``:class:`blobflow.Api``` arrives in the rendered API pages as ``:class:<code>blobflow.Api</code>``
and a literal block's ``::`` as a paragraph ending in ``::``; both are tidied in the HTML.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj|const|ref|term):(<code>)~?")
_LITERAL = re.compile(r"::(</p>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return _LITERAL.sub(r":\1", _ROLE.sub(r"\1", html))
