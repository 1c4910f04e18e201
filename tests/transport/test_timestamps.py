"""securestore's timestamp parser gives what botocore's gives, and its clients use it."""

from __future__ import annotations

import datetime
from typing import Any

import botocore.utils
import dateutil.parser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from securestore.transport import parse_timestamp
from tests.conftest import Endpoint

_MOMENTS = st.datetimes(
    min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(9999, 12, 30)
)


def _same(value: Any) -> None:
    ours, theirs = parse_timestamp(value), botocore.utils.parse_timestamp(value)
    assert ours == theirs
    assert ours.utcoffset() == theirs.utcoffset()


@given(_MOMENTS, st.integers(min_value=0, max_value=9), st.integers(min_value=0))
def test_iso_8601_as_in_listings(moment: datetime.datetime, digits: int, fraction: int) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + str(fraction % 10**digits).zfill(digits)
    _same(text + "Z")


@given(_MOMENTS)
def test_imf_fixdate_as_in_headers(moment: datetime.datetime) -> None:
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    _same(
        f"{days[moment.weekday()]}, {moment.day:02} {months[moment.month - 1]} {moment.year} "
        f"{moment:%H:%M:%S} GMT"
    )


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T19:36:35+02:00",
        "2026-12-01 19:36:35",
        "Tue, 1 Dec 2026 19:36:35 GMT",
        "Tuesday, 01-Dec-26 19:36:35 GMT",
        1700000000,
        "1700000000.5",
    ],
)
def test_other_forms_go_to_botocore(value: Any) -> None:
    _same(value)


@pytest.mark.parametrize("value", ["2026-02-30T00:00:00Z", "Mon, 30 Feb 2026 00:00:00 GMT", "x"])
def test_invalid_dates_fail_as_in_botocore(value: str) -> None:
    with pytest.raises(ValueError) as theirs:
        botocore.utils.parse_timestamp(value)
    with pytest.raises(ValueError) as ours:
        parse_timestamp(value)
    assert str(ours.value) == str(theirs.value)


def test_clients_parse_s3_timestamps_without_dateutil(
    tls_endpoint: Endpoint, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = tls_endpoint.connection()
    s3 = connection.client("s3")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"]
    headed = s3.head_object(Bucket=bucket, Key="k")["LastModified"]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("dateutil parsed an S3 timestamp")

    monkeypatch.setattr(dateutil.parser, "parse", refuse)
    fresh = tls_endpoint.connection().client("s3")
    assert fresh.list_objects_v2(Bucket=bucket)["Contents"][0]["LastModified"] == listed
    assert fresh.head_object(Bucket=bucket, Key="k")["LastModified"] == headed
    assert listed.tzinfo is not None


def test_a_parser_the_session_was_given_is_kept(tls_endpoint: Endpoint) -> None:
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    factory = session._session.get_component("response_parser_factory")  # type: ignore[attr-defined]
    factory.set_parser_defaults(timestamp_parser=str)
    client = tls_endpoint.connection(session=session).client("s3")
    parser = client._endpoint._response_parser_factory.create_parser("rest-xml")
    assert parser._timestamp_parser is str
