"""The registry: built-ins, id rules, and plug-ins through entry points."""

from __future__ import annotations

import sys
import types
from importlib import metadata

import pytest

from securestore.audit import Outcome, Registry, Severity, Status, check
from securestore.audit.registry import ENTRY_POINT_GROUP, load_plugins
from securestore.errors import ConfigurationError


@check("ACME.1", title="t", severity=Severity.LOW, rationale="r", remediation="m")
def acme(snapshot, options):  # type: ignore[no-untyped-def]
    return Outcome(Status.PASS, "ok")


@pytest.fixture
def plugin_module() -> types.ModuleType:
    module = types.ModuleType("acme_audit_plugin")
    module.CHECKS = (acme,)  # type: ignore[attr-defined]
    module.single = acme  # type: ignore[attr-defined]
    module.factory = lambda: [acme]  # type: ignore[attr-defined]
    module.bad = 42  # type: ignore[attr-defined]
    sys.modules["acme_audit_plugin"] = module
    yield module
    del sys.modules["acme_audit_plugin"]


def ep(value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name="acme", value=value, group=ENTRY_POINT_GROUP)


@pytest.mark.usefixtures("plugin_module")
@pytest.mark.parametrize(
    "value", ["acme_audit_plugin:CHECKS", "acme_audit_plugin:single", "acme_audit_plugin:factory"]
)
def test_plugin_forms(value: str) -> None:
    assert [c.id for c in load_plugins([ep(value)])] == ["ACME.1"]


@pytest.mark.usefixtures("plugin_module")
def test_bad_plugins_name_the_entry_point() -> None:
    with pytest.raises(ConfigurationError, match="'acme'"):
        load_plugins([ep("acme_audit_plugin:bad")])
    with pytest.raises(ConfigurationError, match="failed to load"):
        load_plugins([ep("no_such_module_xyz:CHECKS")])


def test_builtin_ids_are_unique_grouped_and_stable() -> None:
    ids = Registry.builtin().ids
    assert ids[:10] == (
        "S3.ENC.1",
        "S3.ENC.2",
        "S3.ENC.3",
        "S3.ENC.4",
        "S3.ENC.5",
        "S3.ENC.6",
        "S3.ENC.7",
        "S3.TLS.1",
        "S3.TLS.2",
        "S3.TLS.3",
    )
    assert len(ids) == len(set(ids)) == 35


def test_duplicate_and_invalid_ids() -> None:
    registry = Registry.builtin()
    with pytest.raises(ConfigurationError, match="duplicate"):
        registry.add(registry.get("S3.TLS.1"))
    with pytest.raises(ConfigurationError, match="invalid check id"):
        check("tls-1", title="t", severity=Severity.LOW, rationale="r", remediation="m")
    with pytest.raises(ConfigurationError, match="unknown check id"):
        registry.get("S3.NOPE.1")


def test_default_includes_installed_plugins() -> None:
    assert set(Registry.builtin().ids) <= set(Registry.default().ids)


def test_metadata_is_complete() -> None:
    for c in Registry.builtin():
        assert c.meta.title and c.meta.rationale and c.meta.remediation and c.meta.references
        assert c.function.__doc__


def test_optional_collection_follows_the_selected_checks() -> None:
    """Lifecycle rules and account monitoring are collected only for checks that read them."""
    from securestore.audit.check import needed_collection
    from securestore.audit.compliance import load_framework

    registry = Registry.builtin()
    assert needed_collection(registry) == {"lifecycle", "monitoring"}
    fsbp = load_framework("aws-fsbp")
    assert needed_collection(c for c in registry if c.id in fsbp.check_ids) == {"monitoring"}
    tls = [registry.get("S3.TLS.1"), registry.get("KMS.1")]
    assert needed_collection(tls) == frozenset()
    assert registry.get("S3.DATA.6").meta.needs == {"lifecycle"}
