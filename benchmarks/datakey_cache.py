"""Data key cache: KMS calls and time for many small messages, with and without the cache.

    .venv/bin/python -m benchmarks.datakey_cache [--objects 10000] [--size 4096]

Against the embedded endpoint (moto S3 + KMS over TLS, in-process: its KMS calls
are cheap, so time ratios understate what a real KMS round trip costs; the call
counts are exact). Workloads, each without and with ``DataKeyCache``:

- ``put distinct keys``: N puts of SIZE bytes to N keys (issue 11's benchmark). The
  message context binds each object to its key, and the cache is keyed by context,
  so no data key is shared: expect the same GenerateDataKey count.
- ``put one key``: N rewrites of one key (same context): one GenerateDataKey per
  ``max_messages``.
- ``get one object``: N reads of one object: one Decrypt while the entry lives.
- ``encrypt_file``: N local messages with one context (securestore.offline).
- ``put distinct keys`` / ``get distinct keys`` with the AWS KMS Hierarchical
  keyring (``hierarchical``, TTL 300 s): data keys are wrapped locally under a
  branch key that costs one KMS Decrypt (and one DynamoDB GetItem) per TTL, so the
  KMS cost is per TTL whatever the contexts (docs/format.md, "Hierarchical keyring").

Prints a Markdown table; ratios within one run only (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from securestore import AwsKmsKeyring, ClientSide, Connection, SecureStore, create_bucket
from securestore.keyrings.branch_keys import BranchKeyStore
from securestore.keyrings.caching import DataKeyCache
from securestore.keyrings.hierarchy import AwsKmsHierarchicalKeyring
from securestore.local import LocalEndpoint
from securestore.offline import encrypt_file


def _connection(env: dict[str, str]) -> Connection:
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )
    return Connection(
        session=session,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        ca_bundle=env["AWS_CA_BUNDLE"],
        environ={},
    )


def _measure(
    action: Callable[[], None], calls: Counter[str], ddb_calls: Counter[str]
) -> tuple[float, int, int]:
    calls.clear()
    ddb_calls.clear()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started, sum(calls.values()), sum(ddb_calls.values())


def _counter(client: Any, service: str) -> Counter[str]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register(f"before-call.{service}.*", count)
    return calls


def run(objects: int, size: int, max_messages: int) -> list[tuple[str, str, float, int, int]]:
    """Rows of (workload, cache, seconds, KMS calls, DynamoDB calls)."""
    rows: list[tuple[str, str, float, int, int]] = []
    with (
        tempfile.TemporaryDirectory() as work,
        LocalEndpoint(state_dir=Path(work) / "endpoint") as endpoint,
    ):
        conn = _connection(endpoint.environment())
        kms = conn.client("kms")
        key_arn = kms.create_key(Description="datakey_cache benchmark")["KeyMetadata"]["Arn"]
        calls = _counter(kms, "kms")
        ddb = conn.client("dynamodb")
        ddb_calls = _counter(ddb, "dynamodb")
        keyring = AwsKmsKeyring(key_arn, client=kms)
        data = os.urandom(size)
        for label, cache in (
            ("off", None),
            ("on", DataKeyCache(max_age=300, max_messages=max_messages)),
        ):
            bucket = f"bench-{uuid.uuid4().hex[:12]}"
            create_bucket(conn, bucket)
            store = SecureStore(
                bucket, connection=conn, encryption=ClientSide(keyring, cache=cache)
            )

            def distinct(store: SecureStore = store) -> None:
                for i in range(objects):
                    store.put(f"obj/{i:06d}", data)

            def one_key(store: SecureStore = store) -> None:
                for _ in range(objects):
                    store.put("same", data)

            def reread(store: SecureStore = store) -> None:
                for _ in range(objects):
                    store.get("same")

            def offline(cache: DataKeyCache | None = cache) -> None:
                mode = ClientSide(keyring, cache=cache)
                for _ in range(objects):
                    encrypt_file(
                        io.BytesIO(data),
                        io.BytesIO(),
                        mode.keyring_for(size),
                        context={"purpose": "bench"},
                    )

            for name, action in (
                ("put distinct keys", distinct),
                ("put one key", one_key),
                ("get one object", reread),
                ("encrypt_file", offline),
            ):
                seconds, count_, ddb_count = _measure(action, calls, ddb_calls)
                rows.append((name, label, seconds, count_, ddb_count))
        rows += _hierarchical(conn, kms, ddb, key_arn, objects, data, calls, ddb_calls)
    return rows


def _hierarchical(
    conn: Connection,
    kms: Any,
    ddb: Any,
    key_arn: str,
    objects: int,
    data: bytes,
    calls: Counter[str],
    ddb_calls: Counter[str],
) -> list[tuple[str, str, float, int, int]]:
    """Distinct keys written and read with the hierarchical keyring (one branch key)."""
    key_store = BranchKeyStore(
        f"bench-keys-{uuid.uuid4().hex[:8]}", kms_key_arn=key_arn, dynamodb=ddb, kms=kms
    )
    key_store.create_table()
    branch = key_store.create_branch_key()
    keyring = AwsKmsHierarchicalKeyring(branch, key_store, ttl_seconds=300)
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    create_bucket(conn, bucket)
    store = SecureStore(bucket, connection=conn, encryption=ClientSide(keyring))

    def distinct() -> None:
        for i in range(objects):
            store.put(f"obj/{i:06d}", data)

    def read_distinct() -> None:
        for i in range(objects):
            store.get(f"obj/{i:06d}")

    rows = []
    for name, action in (("put distinct keys", distinct), ("get distinct keys", read_distinct)):
        seconds, count_, ddb_count = _measure(action, calls, ddb_calls)
        rows.append((name, "hierarchical", seconds, count_, ddb_count))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.datakey_cache")
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=4096, help="plaintext bytes per object")
    parser.add_argument("--max-messages", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = run(args.objects, args.size, args.max_messages)
    print(f"{args.objects} x {args.size} B, DataKeyCache(max_age=300, "
          f"max_messages={args.max_messages}); hierarchical: AwsKmsHierarchicalKeyring("
          "ttl_seconds=300); moto KMS + DynamoDB in-process\n")  # fmt: skip
    print("| workload | cache | KMS calls | DynamoDB calls | seconds | objects/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, label, seconds, calls, ddb_calls in rows:
        print(
            f"| {name} | {label} | {calls} | {ddb_calls} | {seconds:.2f} "
            f"| {args.objects / seconds:.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
