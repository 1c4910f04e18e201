"""Run securestore's embedded TLS endpoint in its own process for the test suite.

Prints one JSON line with the URL and CA bundle, then serves until stdin closes.
A separate process keeps moto's in-memory state away from tests that use
``moto.mock_aws`` in-process, and gives the server its own interpreter lock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from securestore.local import LocalEndpoint


def main() -> None:
    state_dir = Path(sys.argv[1])
    with LocalEndpoint(state_dir=state_dir) as endpoint:
        print(json.dumps(endpoint.environment()), flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
