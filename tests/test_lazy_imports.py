"""``import blobflow`` and ``blobflow --help`` stay light; the lazy re-exports stay complete.

What is loaded is read from ``sys.modules`` of a fresh interpreter (a subprocess), never
timed here: the start-up figures live in ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import blobflow

HEAVY = ("aiohttp", "numpy", "PIL", "tqdm", "asyncio", "orjson")
PACKAGES = [
    "blobflow",
    "blobflow.api",
    "blobflow.blob",
    "blobflow.engine",
    "blobflow.project",
    "blobflow.server",
    "blobflow.bench",
]


def cli(*argv: str) -> str:
    """Code that runs ``blobflow ARGV`` in-process (``--help`` exits)."""
    return (
        f"from blobflow.cli import main\ntry:\n    main({list(argv)!r})\n"
        "except SystemExit:\n    pass"
    )


def loaded_after(code: str) -> set[str]:
    """Top-level names of the modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


@pytest.mark.parametrize(
    "code",
    [
        "import blobflow",
        "import blobflow.cli",
        cli("--help"),
        cli("--version"),
    ],
    ids=["import", "import-cli", "help", "version"],
)
def test_start_up_loads_nothing_heavy(code: str) -> None:
    assert loaded_after(code) & set(HEAVY) == set()


@pytest.mark.parametrize("command", ["bench", "serve", "pack", "offsets", "ls", "upload",
                                     "download", "import-blob"])  # fmt: skip
def test_sub_command_help_loads_no_client_or_server(command: str) -> None:
    assert loaded_after(cli(command, "--help")) & {"aiohttp", "numpy", "PIL", "tqdm"} == set()


def test_pack_loads_no_numpy_or_aiohttp(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.png").write_bytes(b"x" * 100)
    out = tmp_path / "out.tar"
    assert (
        loaded_after(cli("pack", "--quiet", str(tmp_path / "src"), str(out)))
        & {"aiohttp", "numpy", "PIL", "asyncio"}
        == set()
    )
    assert out.is_file() and (tmp_path / "out_offsets.pkl").is_file()


def _type_checking_imports(package: str) -> dict[str, str]:
    """name -> module of the ``if TYPE_CHECKING:`` imports in a package's ``__init__``."""
    init = Path(importlib.import_module(package).__file__ or "")
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(init.read_text())):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                found.update({alias.name: stmt.module for alias in stmt.names})
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_lazy_exports_match_all_and_type_imports(package: str) -> None:
    """``__all__``, the names typed under TYPE_CHECKING and the lazy table agree, and each
    name resolves to the object its module defines."""
    module = importlib.import_module(package)
    typed = _type_checking_imports(package)
    assert sorted(module.__all__) == sorted(typed)
    assert set(module.__all__) <= set(dir(module))
    for name, source in typed.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name), name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = blobflow.nope  # type: ignore[attr-defined]
    assert not hasattr(blobflow, "__wrapped__")


def test_submodules_read_as_attributes() -> None:
    code = "import blobflow\nprint(blobflow.engine.__name__, blobflow.api.Api.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["blobflow.engine", "Api"]


def test_version_comes_from_the_installed_metadata() -> None:
    from importlib.metadata import version

    assert blobflow.__version__ == version("blobflow")
