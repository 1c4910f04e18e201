"""`securestore local` with a moto too old for it names what is missing and the version needed;
pyproject.toml declares that version as the floor."""

from __future__ import annotations

import sys
import tomllib
import types
from importlib.metadata import version
from pathlib import Path

import pytest

from securestore import ConfigurationError
from securestore.local import MOTO_FLOOR, LocalEndpoint
from tests.conftest import ROOT


def test_the_declared_floor_is_the_code_s_floor() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["local"] == [f"moto[server]>={MOTO_FLOOR}"]


def test_the_installed_moto_meets_the_floor() -> None:
    installed = tuple(int(part) for part in version("moto").split(".")[:3])
    assert installed >= tuple(int(part) for part in MOTO_FLOOR.split("."))


def test_a_moto_without_moto_request_handler_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # moto 5.2.1-5.2.4 (checked against their wheels): werkzeug_app has no MotoRequestHandler.
    import moto.moto_server.werkzeug_app as real

    old = types.ModuleType("moto.moto_server.werkzeug_app")
    old.DomainDispatcherApplication = real.DomainDispatcherApplication  # type: ignore[attr-defined]
    old.create_backend_app = real.create_backend_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "moto.moto_server.werkzeug_app", old)
    monkeypatch.setattr(sys.modules["moto.moto_server"], "werkzeug_app", old)
    with pytest.raises(ConfigurationError) as info:
        LocalEndpoint(port=0, state_dir=tmp_path).start()
    assert "MotoRequestHandler" in str(info.value)
    assert f"moto {MOTO_FLOOR} or newer" in str(info.value)
    assert info.value.hint == f"pip install 'moto[server]>={MOTO_FLOOR}'"
