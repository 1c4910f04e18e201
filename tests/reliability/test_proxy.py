"""The fault proxy itself: rule selection and counting, bounded stop."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import botocore.exceptions
import pytest

from tests.reliability.conftest import MAX_STALL, ProxyFactory
from tests.support.proxy import INTERNAL_ERROR, Rule, Stall, _Request


def _request(method: str = "GET", query: str = "", **headers: str) -> _Request:
    pairs = tuple(tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p)
    return _Request(method, "/bucket/key", pairs, tuple(headers.items()))  # type: ignore[arg-type]


def test_rule_selectors() -> None:
    part2 = Rule(INTERNAL_ERROR, method="PUT", query="partNumber=2")
    assert part2.matches(_request("PUT", "uploadId=x&partNumber=2"))
    assert not part2.matches(_request("PUT", "uploadId=x&partNumber=12"))
    assert not part2.matches(_request("GET", "partNumber=2"))
    assert Rule(INTERNAL_ERROR, query="uploads").matches(_request("POST", "uploads"))
    assert not Rule(INTERNAL_ERROR, query="uploads").matches(_request("POST", "uploadId=1"))
    ranged = Rule(INTERNAL_ERROR, header="Range")
    assert ranged.matches(_request(range="bytes=0-"))
    assert not ranged.matches(_request())
    assert Rule(INTERNAL_ERROR, path=r"/key$").matches(_request())
    assert not Rule(INTERNAL_ERROR, path=r"^/other/").matches(_request())


def test_skip_and_times_select_which_requests_fail(
    tls_endpoint: Any, bucket: str, make_proxy: ProxyFactory
) -> None:
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    rule = proxy.add(Rule(INTERNAL_ERROR, method="HEAD", skip=1, times=2))
    s3 = dataclasses.replace(tls_endpoint, url=proxy.url).connection(max_attempts=1).client("s3")
    outcomes = []
    for _ in range(4):
        try:
            s3.head_bucket(Bucket=bucket)
            outcomes.append("ok")
        except botocore.exceptions.ClientError as exc:
            outcomes.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    assert outcomes == ["ok", 500, 500, "ok"]
    assert (rule.matched, rule.injected, proxy.faults) == (4, 2, 2)
    assert [e.fault for e in proxy.exchanges] == [
        None,
        "500 InternalError",
        "500 InternalError",
        None,
    ]


def test_stop_interrupts_a_stall(tls_endpoint: Any, bucket: str, make_proxy: ProxyFactory) -> None:
    proxy = make_proxy(tls_endpoint.url, tls_endpoint.ca_bundle)
    proxy.add(Rule(Stall(MAX_STALL), method="HEAD"))
    s3 = (
        dataclasses.replace(tls_endpoint, url=proxy.url)
        .connection(max_attempts=1, read_timeout=MAX_STALL)
        .client("s3")
    )
    failed = threading.Event()

    def call() -> None:
        with pytest.raises(botocore.exceptions.BotoCoreError):
            s3.head_bucket(Bucket=bucket)
        failed.set()

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 60
    while not proxy.exchanges and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the request to arrive, not synchronising on timing
    proxy.stop()
    # Neither the stall nor the read timeout ends within this wait: only the stop can.
    caller.join(timeout=MAX_STALL / 3)
    assert failed.is_set()
