"""Fixtures of the S3EC tests."""

from __future__ import annotations

from typing import Any

import pytest

from securestore.transport import Connection


@pytest.fixture
def s3(connection: Connection) -> Any:
    """The endpoint's S3 client, to put S3EC objects as the S3EC would."""
    return connection.client("s3")
