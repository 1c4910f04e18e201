"""Suppression files: parsing, globbing, expiry, and that nothing is silently dropped."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from securestore.audit import Suppression, load_suppressions, parse_suppressions
from securestore.audit.suppress import SuppressionState, apply_suppressions
from securestore.errors import ConfigurationError

from .builders import compliant


def test_toml_and_json_forms(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text(
        '[[suppression]]\ncheck_id = "S3.DATA.4"\nbucket = "logs-*"\n'
        'reason = "log buckets"\nexpires = 2027-06-30\n'
    )
    js = tmp_path / "s.json"
    js.write_text(
        '{"suppressions": [{"check_id": "S3.DATA.4", "bucket": "logs-*", '
        '"reason": "log buckets", "expires": "2027-06-30"}]}'
    )
    expected = (Suppression("S3.DATA.4", "logs-*", "log buckets", date(2027, 6, 30)),)
    assert load_suppressions(toml) == expected
    assert load_suppressions(js) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('[{"check_id": "S3.TLS.1", "bucket": "b"}]', "reason is required"),
        (
            '[{"check_id": "S3.TLS.1", "bucket": "b", "reason": "r", "expires": "soon"}]',
            "YYYY-MM-DD",
        ),
        ('[{"check_id": "S3.TLS.1", "bucket": "b", "reason": "r", "typo": 1}]', "unknown field"),
        ('"x"', "expected a list"),
    ],
)
def test_malformed_files(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_suppressions(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read suppression file"):
        load_suppressions(tmp_path / "nope.json")


def test_apply_marks_matches_and_reports_expired_and_unused(registry) -> None:  # type: ignore[no-untyped-def]
    from securestore.audit import AuditOptions, Collected

    snap = compliant(logging=Collected.ok(None), ownership=Collected.ok(None))
    results = [
        registry.get(i).run(snap, AuditOptions()) for i in ("S3.DATA.4", "S3.PUBLIC.4", "S3.ENC.1")
    ]
    sups = [
        Suppression("S3.DATA.4", "example-*", "logs elsewhere", date(2026, 12, 31)),
        Suppression("S3.PUBLIC.4", "example-bucket", "legacy", date(2026, 1, 1)),
        Suppression("S3.ENC.1", "*", "passes anyway"),
    ]
    out, states = apply_suppressions(results, sups, today=date(2026, 11, 28))
    assert [r.suppressed for r in out] == [True, False, False]
    assert [s.state for s in states] == [
        SuppressionState.ACTIVE,
        SuppressionState.EXPIRED,
        SuppressionState.UNUSED,
    ]
    assert states[0].matched == 1
    # the expiry day itself still suppresses
    out, _ = apply_suppressions(results, sups[:1], today=date(2026, 12, 31))
    assert out[0].suppressed
