"""Reproduce the ``decode_error`` handshakes of stop 20's CI flake (run by hand, not a test).

Threads open TLS connections to the embedded endpoint through one shared client
context, as a botocore connection pool does, while others rewrite that context's
ALPN list as urllib3 does before every new connection (python/cpython#141012).
Now and then a ClientHello carries freed bytes and the server answers with a
``decode_error`` alert. ``--securestore`` uses securestore's pool context instead,
which keeps its list, so no handshake fails::

    python -m tests.support.alpn_race [--securestore] [SECONDS] [CONNECTING] [REWRITING]

Measured at a load average of 14-28 on 2 cores: 4 failed handshakes in about
45,000 with urllib3's context, none in about 24,000 with securestore's.
"""

from __future__ import annotations

import collections
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

from urllib3.util.ssl_ import create_urllib3_context, ssl_wrap_socket

from securestore.transport import _pool_context
from tests.support.endpoints import endpoint_process


def main(argv: list[str]) -> None:
    ours = "--securestore" in argv
    numbers = [float(arg) for arg in argv if not arg.startswith("--")]
    seconds, connecting, rewriting = (numbers + [60, 10, 4][len(numbers) :])[:3]
    context = _pool_context() if ours else create_urllib3_context()
    outcomes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    with endpoint_process("tests.support.endpoint_server", Path(tempfile.mkdtemp())) as (_, env):
        host, port = env["AWS_ENDPOINT_URL"].removeprefix("https://").rsplit(":", 1)
        deadline = time.monotonic() + seconds

        def connect() -> None:
            while time.monotonic() < deadline:
                raw = socket.create_connection((host, int(port)), timeout=30)
                try:
                    ssl_wrap_socket(
                        raw,
                        ssl_context=context,
                        ca_certs=env["AWS_CA_BUNDLE"],
                        server_hostname=host,
                    ).close()
                    outcome = "handshake completed"
                except (OSError, ssl.SSLError) as exc:
                    outcome = f"{type(exc).__name__}: {exc}"
                    raw.close()
                with lock:
                    outcomes[outcome] += 1

        def rewrite() -> None:
            while time.monotonic() < deadline:
                context.set_alpn_protocols(["http/1.1"])

        threads = [threading.Thread(target=connect) for _ in range(int(connecting))]
        threads += [threading.Thread(target=rewrite) for _ in range(int(rewriting))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for outcome, count in outcomes.most_common():
        print(count, outcome)


if __name__ == "__main__":
    main(sys.argv[1:])
