"""Connection's arguments are checked where it is built, with a ConfigurationError naming each."""

from __future__ import annotations

from typing import Any

import pytest

from securestore import Connection
from securestore.errors import ConfigurationError

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"region": 5}, "region must be a str"),
    ({"profile": b"dev"}, "profile must be a str"),
    ({"endpoint_url": 3}, "endpoint_url must be a str"),
    ({"ca_bundle": 1}, "ca_bundle must be a path"),
    ({"checksum": True}, "checksum must be 'when_supported' or 'when_required'"),
    ({"max_attempts": 0}, "max_attempts must be at least 1"),
    ({"max_attempts": True}, "max_attempts must be an int"),
    ({"max_pool_connections": "8"}, "max_pool_connections must be an int"),
    ({"retry_mode": "legacy"}, "retry_mode must be 'standard' or 'adaptive'"),
    ({"connect_timeout": 0}, "connect_timeout must be a finite number of seconds above 0"),
    ({"read_timeout": float("inf")}, "read_timeout must be a finite number"),
    ({"read_timeout": float("nan")}, "read_timeout must be a finite number"),
    ({"read_timeout": "60"}, "read_timeout must be a number of seconds"),
    ({"session": "default"}, "session must be a boto3.Session"),
    ({"environ": ["AWS_REGION=x"]}, "environ must be a mapping"),
]


@pytest.mark.parametrize(("given", "message"), REFUSED)
def test_a_wrong_argument_is_a_configuration_error(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        Connection(**{"environ": {}, "region": "eu-west-1", **given})


def test_right_arguments_build_a_connection() -> None:
    connection = Connection(
        environ={},
        region="eu-west-1",
        checksum="when_required",
        max_attempts=1,
        retry_mode="adaptive",
        connect_timeout=0.5,
        read_timeout=30,
        max_pool_connections=4,
    )
    assert connection.region == "eu-west-1"
