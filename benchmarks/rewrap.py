"""Re-wrap against re-upload: bytes through the client and time, on the embedded endpoint.

``python -m benchmarks.rewrap [--size-mib 256] [--repeat 3]`` stores one client-side
object (raw AES key A) on ``securestore.local.LocalEndpoint`` (moto over TLS, in this
process), then, best of ``repeat``:

* **re-upload**: the object written again under the new key (what a tool without
  re-wrapping does after downloading it; the download is not even counted);
* **rewrap**: ``store.rewrap(key, add=[B], remove=[A])``: a new header and the first
  5 MiB through the client, the rest copied by S3 (``UploadPartCopy``).

Bytes are counted on the client's botocore events (GetObject bodies, UploadPart and
PutObject bodies); moto copies in memory, so the time ratio is indicative, the bytes
exact. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from securestore import ClientSide, Connection, SecureStore
from securestore.keyrings import RawAesKeyring
from securestore.local import LocalEndpoint
from securestore.store import create_bucket
from securestore.transfer import TransferConfig

MiB = 1024 * 1024


class ByteCounter:
    """Body bytes sent and received by one client."""

    def __init__(self, client: Any) -> None:
        self.down = 0
        self.up = 0
        client.meta.events.register("after-call.s3.GetObject", self._got)
        for op in ("PutObject", "UploadPart"):
            client.meta.events.register(f"before-call.s3.{op}", self._sent)

    def _got(self, parsed: dict[str, Any], **_: Any) -> None:
        self.down += int(parsed.get("ContentLength", 0))

    def _sent(self, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body")
        if isinstance(body, bytes | bytearray):
            self.up += len(body)
        elif hasattr(body, "seek") and hasattr(body, "tell"):
            here = body.tell()
            body.seek(0, os.SEEK_END)
            self.up += body.tell() - here
            body.seek(here)

    def take(self) -> tuple[int, int]:
        counts = (self.down, self.up)
        self.down = self.up = 0
        return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rewrap", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="securestore-rewrap-bench-") as tmp:
        work = Path(tmp)
        with LocalEndpoint(state_dir=work / "state") as endpoint:
            env = endpoint.environment()
            session = boto3.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name="us-east-1",
            )
            connection = Connection(
                session=session,
                endpoint_url=endpoint.url,
                ca_bundle=env["AWS_CA_BUNDLE"],
                environ={},
            )
            create_bucket(connection, "rewrap-bench")
            key_a = RawAesKeyring("bench", "a", os.urandom(32))
            key_b = RawAesKeyring("bench", "b", os.urandom(32))
            transfer = TransferConfig(part_size=8 * MiB, concurrency=4)
            source = work / "object.bin"
            source.write_bytes(os.urandom(size))
            stores = {
                name: SecureStore("rewrap-bench", encryption=ClientSide(k), connection=connection,
                                  transfer=transfer)
                for name, k in (("a", key_a), ("b", key_b))
            }  # fmt: skip
            counter = ByteCounter(connection.client("s3"))
            stores["a"].upload_file(source, "obj")
            counter.take()
            uploads, rewraps = [], []
            rewrap_bytes = (0, 0)
            for i in range(args.repeat):
                start = time.perf_counter()
                stores["b" if i % 2 == 0 else "a"].upload_file(source, "copy")
                uploads.append(time.perf_counter() - start)
                upload_bytes = counter.take()
                holder, new, old = ("a", key_b, key_a) if i % 2 == 0 else ("b", key_a, key_b)
                start = time.perf_counter()
                result = stores[holder].rewrap("obj", add=[new], remove=[old])
                rewraps.append(time.perf_counter() - start)
                rewrap_bytes = counter.take()
                print(
                    f"run {i + 1}: re-upload {uploads[-1]:.2f} s, rewrap {rewraps[-1]:.2f} s "
                    f"({result.method.value if result.method else '?'})",
                    file=sys.stderr,
                )
            down, up = rewrap_bytes
            print(f"| object | {args.size_mib} MiB client-side (raw AES), moto over TLS |")
            print("|---|---|")
            print(
                f"| re-upload, best of {args.repeat} | {min(uploads):.2f} s, "
                f"{upload_bytes[1]:,} B sent |"
            )
            print(
                f"| rewrap, best of {args.repeat} | {min(rewraps):.2f} s, {down:,} B fetched, "
                f"{up:,} B sent |"
            )
            print(f"| rewrap time / re-upload time | {min(rewraps) / min(uploads):.3f} |")
            print(f"| bytes through the client / object size | {(down + up) / size:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
