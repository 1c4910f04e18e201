"""The embedded TLS endpoint with moto's IAM authorisation switchable from stdin.

Prints one JSON line with the environment, then reads commands, one per line:
``enforce`` makes moto check every later request against the IAM policies of the
caller (moto's ``INITIAL_NO_AUTH_ACTION_COUNT`` mechanism), ``relax`` turns that
off again; each is answered with ``ok``. End of input stops the server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin

from securestore.local import LocalEndpoint


def main() -> None:
    state_dir = Path(sys.argv[1])
    with LocalEndpoint(state_dir=state_dir) as endpoint:
        print(json.dumps(endpoint.environment()), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "enforce":
                ActionAuthenticatorMixin.request_count = 0
                settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            elif command == "relax":
                settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
            print("ok", flush=True)


if __name__ == "__main__":
    main()
