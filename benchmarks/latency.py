"""A TCP relay that delays every byte by a fixed time: a distant endpoint on loopback.

The machine has no ``tc netem``, and an endpoint on loopback answers in well under
a millisecond, so a benchmark there measures CPU, not the concurrency that decides
a tree transfer against S3 (tens of milliseconds per small request). This relay
sits between a client and the endpoint (TLS passes through it untouched) and
delivers each chunk ``delay`` seconds after it arrived, in both directions, so a
round trip costs ``2 * delay`` and a TLS handshake its real number of round trips.
It models propagation delay only: no bandwidth limit, no loss.

It runs in a process of its own (``python -m benchmarks.latency --to HOST:PORT
--delay-ms D``; it prints its port and serves until killed) so its CPU is not
counted against either client, and :func:`start_relay` starts and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 256 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await pending.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(_CHUNK)
            pending.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except OSError:
        sender.cancel()


async def _serve(target: tuple[str, int], delay: float, port: int) -> None:
    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(
                _pump(client_r, server_w, delay),
                _pump(server_r, client_w, delay),
                return_exceptions=True,
            )
        finally:
            for writer in (client_w, server_w):
                writer.close()

    server = await asyncio.start_server(relay, "127.0.0.1", port, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class Relay:
    """A running relay: its ``url``, and the CPU its process has used so far."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self._pid = pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the relay process (Linux ``/proc``; 0.0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self._pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def start_relay(url: str, delay_ms: float) -> Iterator[Relay]:
    """A relay in front of ``https://host:port`` that adds ``delay_ms`` each way."""
    host, _, port = url.removeprefix("https://").rstrip("/").rpartition(":")
    command = [sys.executable, "-m", "benchmarks.latency", "--to", f"{host}:{port}"]
    process = subprocess.Popen(
        [*command, "--delay-ms", str(delay_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.isdigit():
            raise SystemExit("the latency relay did not start")
        yield Relay(f"https://{host}:{line}", process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv: list[str] | None = None) -> None:
    """Parse and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True, help="HOST:PORT of the endpoint")
    parser.add_argument("--delay-ms", type=float, required=True, help="delay each way")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: free)")
    options = parser.parse_args(argv)
    host, _, port = options.to.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve((host, int(port)), options.delay_ms / 1000, options.port))


if __name__ == "__main__":
    main()
