"""``python -m blobflow.cli``: the ``blobflow`` command."""

from __future__ import annotations

import sys

from blobflow.cli import main

sys.exit(main())
