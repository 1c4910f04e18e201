"""Hostile bucket and key policies through the policy parser and every registered check.

Only :class:`ConfigurationError` (a malformed policy) or :class:`Unavailable` may
leave a check function, which :meth:`Check.run` turns into an ``ERROR`` result;
never a ``TypeError``, ``KeyError`` or ``AttributeError`` (which ``run`` would
report as "check ... raised", the signature of a bug).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securestore.audit import (
    AuditOptions,
    BucketSnapshot,
    Collected,
    EncryptionRequirement,
    ObjectSample,
    Registry,
    Status,
)
from securestore.audit.model import Outcome, Unavailable
from securestore.audit.policy import minimum_tls, parse_policy, tls_only
from securestore.errors import ConfigurationError
from tests.audit.builders import ARN, KEY_ARN, KEY_ID, compliant, customer_key, policy
from tests.fuzz.profiles import FUZZ, examples
from tests.fuzz.strategies import policy_documents, statements

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = Registry.builtin()
OPTIONS = (
    AuditOptions(),
    AuditOptions(
        require=EncryptionRequirement.KMS,
        allowed_kms_keys=frozenset({KEY_ID}),
        require_vpc_endpoint=True,
        sample_objects=1,
    ),
)


def _snapshot(text: str, where: str) -> BucketSnapshot:
    snap = replace(compliant(), objects=Collected.ok((ObjectSample("k", sse="aws:kms"),)))
    if where == "bucket":
        return replace(snap, policy=Collected.ok(text))
    key = customer_key(policy=Collected.ok(text))
    return replace(snap, keys={KEY_ARN: Collected.ok(key)})


@pytest.mark.timeout(60)
@FUZZ
@given(policy_documents, st.booleans())
def test_the_parser_raises_configuration_errors_only(document: Any, as_text: bool) -> None:
    try:
        parsed = parse_policy(json.dumps(document) if as_text else document)
    except ConfigurationError as error:
        message: str | None = str(error)
    else:
        message = None
    if message is not None:
        assert message.startswith("malformed policy")
        return
    for statement in parsed.statements:
        assert statement.effect in ("Allow", "Deny")
        for condition in statement.conditions:
            assert all(isinstance(v, str) for v in condition.values)


@pytest.mark.timeout(90)
@examples(120)
@given(policy_documents, st.sampled_from(["bucket", "key"]), st.sampled_from(OPTIONS))
def test_every_check_survives_any_policy(document: Any, where: str, options: AuditOptions) -> None:
    snap = _snapshot(json.dumps(document), where)
    for check in REGISTRY:
        try:
            outcome = check.function(snap, options)
        except (ConfigurationError, Unavailable):
            outcome = None
        else:
            assert isinstance(outcome, Outcome) and outcome.status in Status
        result = check.run(snap, options)
        assert not result.message.startswith(f"check {check.id} raised"), result.message
        if outcome is None:
            assert result.status is Status.ERROR


@pytest.mark.timeout(60)
@FUZZ
@given(st.lists(statements, min_size=1, max_size=4))
def test_tls_analysis_counts_only_statements_that_deny(raw: list[Any]) -> None:
    """Adding Allow statements never makes a bucket look TLS-only."""
    try:
        parsed = parse_policy({"Statement": raw})
    except ConfigurationError:
        return
    for analyse in (tls_only, minimum_tls):
        coverage = analyse(parsed, ARN)
        if coverage.denied:
            assert any(s.is_deny for s in parsed.statements)
            assert coverage.statements


@pytest.mark.parametrize("values", ["NaN", ["NaN", "1.0"]], ids=["nan", "nan-then-1.0"])
def test_a_nan_tls_version_threshold_is_not_tls_only(values: Any) -> None:
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {"NumericLessThan": {"s3:TlsVersion": values}},
    }
    snap = replace(compliant(), policy=Collected.ok(policy(statement)))
    for check_id in ("S3.TLS.1", "S3.TLS.2"):
        assert REGISTRY.get(check_id).run(snap, AuditOptions()).status is not Status.PASS


_REDOS = textwrap.dedent(
    """
    from dataclasses import replace
    from securestore.audit import AuditOptions, Collected, Registry
    from tests.audit.builders import ARN, compliant, policy
    statement = {{"Effect": "Deny", "Principal": "*", "Action": {action!r},
                 "Resource": [ARN, ARN + "/*"],
                 "Condition": {{"Bool": {{"aws:SecureTransport": "false"}}}}}}
    snap = replace(compliant(), policy=Collected.ok(policy(statement)))
    print(Registry.builtin().get("S3.TLS.1").run(snap, AuditOptions()).status)
    """
)


@pytest.mark.timeout(60)
def test_a_crafted_wildcard_pattern_does_not_hang_the_audit() -> None:
    code = _REDOS.format(action="*?" * 14 + "*!")
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
    except subprocess.TimeoutExpired:
        pytest.fail("S3.TLS.1 did not finish within 5 s on a 30-character Action pattern")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("FAIL", "PASS")
