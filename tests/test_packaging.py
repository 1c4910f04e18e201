"""The package's public surface and its packaging metadata stay complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

import securestore

ROOT = Path(__file__).resolve().parent.parent


def test_all_is_sorted_and_complete() -> None:
    names = securestore.__all__
    assert list(names) == sorted(names)
    public = {n for n in dir(securestore) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(names), public - set(names)
    for name in names:
        assert hasattr(securestore, name)


def test_no_exported_name_is_a_submodule_name() -> None:
    # Importing securestore.NAME binds the package attribute NAME to the module, so an
    # exported function of that name would turn into a module (not callable) in every
    # program that imported the submodule first.
    modules = {p.stem for p in (ROOT / "securestore").glob("*.py")}
    modules |= {p.name for p in (ROOT / "securestore").iterdir() if (p / "__init__.py").exists()}
    assert not set(securestore.__all__) & modules, set(securestore.__all__) & modules


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {"securestore_cli"}
    for init in (ROOT / "securestore").rglob("*"):
        if init.is_dir() and init.name != "__pycache__" and any(init.glob("*.py")):
            found.add(".".join(init.relative_to(ROOT).parts))
    found.add("securestore")
    data_dirs = {
        ".".join(d.relative_to(ROOT).parts)
        for d in (ROOT / "securestore").rglob("*")
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.json"))
    }
    assert found | data_dirs <= listed, (found | data_dirs) - listed


def test_library_never_imports_click() -> None:
    for path in (ROOT / "securestore").rglob("*.py"):
        text = path.read_text()
        assert "import click" not in text and "from click" not in text, path


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "securestore" / "py.typed").exists()
