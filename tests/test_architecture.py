"""The package's shape: sibling packages use each other's public names, never private modules.

The layer order itself (blob < api < engine < project < sly < faces; the server beside them)
is import-linter's contract in pyproject.toml, run by CI; this test covers what import-linter
cannot say: an import of another package's underscore module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import blobflow

ROOT = Path(blobflow.__file__).parent


def _package_of(module: str) -> str:
    """``blobflow.api._image`` -> ``blobflow.api``; ground modules (``blobflow._files``) and
    ``blobflow`` itself -> ``blobflow``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and not parts[1].startswith("_") else "blobflow"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private_imports(source: str, module: str) -> list[str]:
    """Imports in ``source`` (the text of ``module``) of another package's private modules."""
    here = _package_of(module)
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            private = any(p.startswith("_") for p in parts[2:])
            if parts[0] == "blobflow" and private and _package_of(target) != here:
                found.append(f"{module}:{node.lineno} imports {target}")
    return found


def test_packages_import_each_other_only_through_public_names() -> None:
    offenders = [
        hit
        for path in sorted(ROOT.rglob("*.py"))
        for hit in _private_imports(path.read_text(encoding="utf-8"), _module_name(path))
    ]
    assert offenders == []


def test_the_check_reports_a_private_import_of_another_package() -> None:
    source = (
        "from blobflow.api._image import ImageApi\n"  # another package's private module
        "from blobflow.engine._writer import FileWriter\n"  # its own package: allowed
        "from blobflow._files import batched\n"  # a ground module: allowed
        "import blobflow.project._local\n"
    )
    assert _private_imports(source, "blobflow.engine._probe") == [
        "blobflow.engine._probe:1 imports blobflow.api._image",
        "blobflow.engine._probe:4 imports blobflow.project._local",
    ]
