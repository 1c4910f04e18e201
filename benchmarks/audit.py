"""Audit benchmark: ``securestore audit`` against Prowler's S3 checks on one endpoint.

Run with ``python -m benchmarks.audit`` (``--help`` for options). It starts
:class:`securestore.local.LocalEndpoint` (moto over TLS) in this process, creates
buckets with mixed configurations (no default encryption, SSE-S3 or SSE-KMS;
TLS policies in several forms, some insufficient; public access blocks;
versioning), then times, end to end in a child process:

* ``securestore audit --all-buckets --format json``;
* ``prowler aws --services s3`` (when a Prowler executable is found, by default
  ``/tmp/prowler-venv/bin/prowler``; install it with
  ``python3 -m venv /tmp/prowler-venv && /tmp/prowler-venv/bin/pip install prowler``).

Both see the same endpoint through ``AWS_ENDPOINT_URL`` and ``AWS_CA_BUNDLE``.
API calls are counted on the server side (every request the endpoint serves,
by service) and, for securestore, also from the report's own ``api_calls``.
The account-level s3control call cannot reach the endpoint: botocore's s3control
endpoint rules put the account id in front of the host name, which does not
resolve on loopback (``AWS_DISABLE_HOST_PREFIX_INJECTION``, set here, does not
change that in botocore 1.44), so ``S3.PUBLIC.2`` reports ERROR; the failed call
costs well under a second.

moto is not S3: absolute times say little about AWS (NOTES.md); compare the two
tools measured in the same run. The results go to standard output as Markdown
(and as JSON with ``--json FILE``); ``docs/audit-benchmark.md`` records them.
This module is not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

from securestore import Connection
from securestore.local import LocalEndpoint

DEFAULT_PROWLER = "/tmp/prowler-venv/bin/prowler"

ENCRYPTION = ("none", "sse-s3", "sse-kms")
POLICIES = (
    "none",
    "tls-string",
    "tls-json-boolean",
    "tls-among-actions",
    "tls-version-only",
    "deny-put-only",
    "allow-only",
)
#: Policy forms that satisfy S3.TLS.1 (AWS Config / CIS accept the same ones).
#: The forms that deny every plain-HTTP request. Not "tls-version-only": plain HTTP
#: carries no s3:TlsVersion, and a condition on an absent key is false (issue 9).
TLS_PASSING = frozenset({"tls-string", "tls-json-boolean", "tls-among-actions"})
BLOCKS = ("none", "all", "partial")

#: Prowler's check for S3.TLS.1's question.
PROWLER_TLS_CHECK = "s3_bucket_secure_transport_policy"


# --- counting requests on the server --------------------------------------------------------


class RequestCounter:
    """A WSGI middleware counting requests by the service in their SigV4 credential scope."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.by_service: Counter[str] = Counter()
        #: Seconds added to every request (a WAN round trip to AWS); set after set-up.
        self.latency = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        service = "unsigned"
        if "Credential=" in auth:
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            service = scope[3] if len(scope) > 3 else "unknown"
        with self._lock:
            self.by_service[service] += 1
        if self.latency:
            # The server is threaded: requests wait side by side, as on a real network.
            time.sleep(self.latency)
        return self._app(environ, start_response)

    def take(self) -> dict[str, int]:
        """The counts since the last call, and reset."""
        with self._lock:
            counts = dict(self.by_service)
            self.by_service.clear()
        return counts


def count_requests(endpoint: LocalEndpoint) -> RequestCounter:
    """Wrap the running endpoint's WSGI app (werkzeug reads ``server.app`` per request)."""
    server = endpoint._server  # benchmark-only: LocalEndpoint offers no middleware hook
    counter = RequestCounter(server.app)
    server.app = counter
    return counter


# --- the bucket population ------------------------------------------------------------------


@dataclass(frozen=True)
class BucketSpec:
    """One benchmark bucket's configuration."""

    name: str
    encryption: str
    policy: str
    block: str
    versioning: bool
    key: int


def specs(count: int, prefix: str) -> list[BucketSpec]:
    """``count`` buckets cycling through every combination of the configurations."""
    out = []
    for i in range(count):
        out.append(
            BucketSpec(
                name=f"{prefix}-{i:04d}",
                encryption=ENCRYPTION[i % 3],
                policy=POLICIES[(i // 3) % len(POLICIES)],
                block=BLOCKS[(i // 21) % 3],
                versioning=(i // 63) % 2 == 1,
                key=(i // 3) % 3,
            )
        )
    return out


def _policy(spec: BucketSpec) -> dict[str, Any] | None:
    arn = f"arn:aws:s3:::{spec.name}"
    both = [arn, f"{arn}/*"]
    tls = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": both,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    allow = {
        "Sid": "AllowReader",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": both,
    }
    statements: list[dict[str, Any]] = {
        "none": [],
        "tls-string": [allow, tls],
        "tls-json-boolean": [{**tls, "Condition": {"Bool": {"aws:SecureTransport": False}}}],
        "tls-among-actions": [{**tls, "Action": ["s3:GetObject", "s3:*"]}],
        "tls-version-only": [{**tls, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}}],
        "deny-put-only": [{**tls, "Action": "s3:PutObject", "Resource": f"{arn}/*"}],
        "allow-only": [allow],
    }[spec.policy]
    return {"Version": "2012-10-17", "Statement": statements} if statements else None


def create(connection: Connection, spec: BucketSpec, keys: list[str]) -> None:
    """Create one bucket and configure it as ``spec`` says."""
    s3 = connection.client("s3")
    s3.create_bucket(Bucket=spec.name)
    if spec.encryption != "none":
        default: dict[str, Any] = {"SSEAlgorithm": "AES256"}
        if spec.encryption == "sse-kms":
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys[spec.key]}
        s3.put_bucket_encryption(
            Bucket=spec.name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": default,
                        "BucketKeyEnabled": spec.key != 2,
                    }
                ]
            },
        )
    document = _policy(spec)
    if document is not None:
        s3.put_bucket_policy(Bucket=spec.name, Policy=json.dumps(document))
    if spec.block != "none":
        on = spec.block == "all"
        s3.put_public_access_block(
            Bucket=spec.name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": on,
                "RestrictPublicBuckets": on,
            },
        )
    if spec.versioning:
        s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})


def populate(connection: Connection, buckets: list[BucketSpec]) -> None:
    """Create the KMS keys (rotation on for the first only) and every bucket."""
    kms = connection.client("kms")
    keys = [kms.create_key(Description=f"bench {i}")["KeyMetadata"]["Arn"] for i in range(3)]
    kms.enable_key_rotation(KeyId=keys[0])
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda s: create(connection, s, keys), buckets))


# --- runs -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One timed run of a tool."""

    tool: str
    seconds: float
    exit_code: int
    requests: dict[str, int]
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def total_requests(self) -> int:
        """Every request the endpoint served during the run."""
        return sum(self.requests.values())


def run_securestore(env: dict[str, str], out: Path, counter: RequestCounter) -> Run:
    """Time ``securestore audit --all-buckets --format json`` in a child process."""
    counter.take()
    command = [
        sys.executable,
        "-m",
        "securestore_cli",
        "audit",
        "--all-buckets",
        "--format",
        "json",
        "--output",
        str(out),
    ]
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    run = Run("securestore", seconds, proc.returncode, counter.take())
    if proc.returncode not in (0, 1, 4) or not out.exists():
        # 4: some check could not run (here the s3control call, see above); the
        # report is still written and lists the error.
        run.detail["stderr"] = proc.stderr[-2000:]
        return run
    doc = json.loads(out.read_text(encoding="utf-8"))
    per_bucket = [n for b, n in doc["api_calls"].items() if b]
    tls = Counter(r["status"] for r in doc["results"] if r["check_id"] == "S3.TLS.1")
    run.detail = {
        "buckets": doc["summary"]["buckets"],
        "results": doc["summary"]["results"],
        "reported_calls": doc["summary"]["api_calls"],
        "account_calls": doc["api_calls"].get("", 0),
        "calls_per_bucket": statistics.mean(per_bucket) if per_bucket else 0,
        "tls_verdicts": dict(tls),
        "tls_pass_buckets": sorted(
            r["bucket"]
            for r in doc["results"]
            if r["check_id"] == "S3.TLS.1" and r["status"] == "PASS"
        ),
        "errors": doc["errors"],
    }
    return run


def run_prowler(
    prowler: str, env: dict[str, str], out_dir: Path, counter: RequestCounter, timeout: float
) -> Run:
    """Time ``prowler aws --services s3`` in a child process (json-ocsf output)."""
    counter.take()
    command = [
        prowler,
        "aws",
        "--services",
        "s3",
        "--region",
        env["AWS_REGION"],
        "--output-formats",
        "json-ocsf",
        "--output-directory",
        str(out_dir),
        "--output-filename",
        "prowler",
        "--no-banner",
        "--ignore-exit-code-3",
    ]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        return Run(
            "prowler",
            time.perf_counter() - start,
            -1,
            counter.take(),
            {"error": f"timed out after {exc.timeout:.0f} s"},
        )
    seconds = time.perf_counter() - start
    run = Run("prowler", seconds, proc.returncode, counter.take())
    findings: list[dict[str, Any]] = []
    for path in out_dir.glob("*.ocsf.json"):
        findings.extend(json.loads(path.read_text(encoding="utf-8") or "[]"))
    checks = Counter(f.get("metadata", {}).get("event_code", "?") for f in findings)
    tls = [f for f in findings if f.get("metadata", {}).get("event_code") == PROWLER_TLS_CHECK]
    run.detail = {
        "findings": len(findings),
        "checks": len(checks),
        "tls_verdicts": dict(Counter(f.get("status_code", "?") for f in tls)),
        "tls_pass_buckets": sorted(
            _resource_name(f) for f in tls if f.get("status_code") == "PASS"
        ),
        "stderr_tail": proc.stderr[-1500:] if proc.returncode not in (0, 3) else "",
    }
    return run


def _resource_name(finding: dict[str, Any]) -> str:
    resources = finding.get("resources") or [{}]
    uid = str(resources[0].get("uid") or resources[0].get("name") or "")
    return uid.rsplit(":", 1)[-1]


# --- report ---------------------------------------------------------------------------------


def _median(runs: Iterable[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def markdown(
    buckets: list[BucketSpec], ours: list[Run], theirs: list[Run], setup_seconds: float, note: str
) -> str:
    """The results as a Markdown section."""
    n = len(buckets)
    lines = [f"Buckets: {n}; setup took {setup_seconds:.1f} s.", ""]
    lines += [
        "| Tool | Run | Wall time (s) | Exit | Requests served | Requests / bucket |",
        "|------|-----|---------------|------|-----------------|-------------------|",
    ]
    for runs in (ours, theirs):
        for i, r in enumerate(runs, 1):
            lines.append(
                f"| {r.tool} | {i} | {r.seconds:.1f} | {r.exit_code} | "
                f"{r.total_requests} | {r.total_requests / n:.1f} |"
            )
    lines.append("")
    if ours:
        d = ours[-1].detail
        lines.append(
            f"securestore: median {_median(ours):.1f} s; its report counts "
            f"{d.get('calls_per_bucket', 0):.1f} calls per bucket plus "
            f"{d.get('account_calls', 0)} account-level; requests by service "
            f"{ours[-1].requests}."
        )
    if theirs and theirs[-1].exit_code in (0, 3):
        lines.append(
            f"Prowler: median {_median(theirs):.1f} s; requests by service "
            f"{theirs[-1].requests}; {theirs[-1].detail.get('findings')} findings."
        )
        if ours:
            lines.append(
                f"Ratio (Prowler / securestore, medians): {_median(theirs) / _median(ours):.1f}x."
            )
            expected = sorted(b.name for b in buckets if b.policy in TLS_PASSING)
            mine = ours[-1].detail.get("tls_pass_buckets", [])
            prowl = theirs[-1].detail.get("tls_pass_buckets", [])
            lines.append(
                f"TLS-only verdicts: {len(expected)} buckets have an accepted form; "
                f"securestore S3.TLS.1 passes {len(mine)} "
                f"({'all expected' if mine == expected else 'MISMATCH'}), Prowler "
                f"{PROWLER_TLS_CHECK} passes {len(prowl)}."
            )
    elif theirs:
        lines.append(f"Prowler did not complete: exit {theirs[-1].exit_code}; {theirs[-1].detail}")
    if note:
        lines.append(note)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.audit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--buckets", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each tool")
    parser.add_argument("--prowler", default=DEFAULT_PROWLER, help="the prowler executable")
    parser.add_argument("--skip-prowler", action="store_true")
    parser.add_argument("--prowler-timeout", type=float, default=1800.0)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="add this much latency to every request (e.g. 50, a WAN round trip to AWS)",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="securestore-audit-bench-") as tmp:
        work = Path(tmp)
        with LocalEndpoint(state_dir=work / "state") as endpoint:
            counter = count_requests(endpoint)
            env = {
                **os.environ,
                **endpoint.environment(),
                "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
            }
            env.pop("AWS_PROFILE", None)
            session = boto3.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                region_name=env["AWS_REGION"],
            )
            connection = Connection(
                session=session,
                endpoint_url=endpoint.url,
                ca_bundle=env["AWS_CA_BUNDLE"],
                environ={},
            )
            buckets = specs(args.buckets, "bench")
            start = time.perf_counter()
            populate(connection, buckets)
            setup_seconds = time.perf_counter() - start
            counter.take()
            counter.latency = args.latency_ms / 1000
            print(f"created {len(buckets)} buckets in {setup_seconds:.1f} s", file=sys.stderr)

            ours = []
            for i in range(args.runs):
                run = run_securestore(env, work / f"audit-{i}.json", counter)
                print(
                    f"securestore run {i + 1}: {run.seconds:.1f} s, exit {run.exit_code}, "
                    f"{run.total_requests} requests",
                    file=sys.stderr,
                )
                ours.append(run)

            theirs: list[Run] = []
            note = ""
            prowler = shutil.which(args.prowler) or (
                args.prowler if Path(args.prowler).exists() else None
            )
            if args.skip_prowler:
                note = "Prowler skipped (--skip-prowler)."
            elif prowler is None:
                note = f"Prowler not found at {args.prowler}: install it (see the docstring)."
            else:
                for i in range(args.runs):
                    out_dir = work / f"prowler-{i}"
                    out_dir.mkdir()
                    run = run_prowler(prowler, env, out_dir, counter, args.prowler_timeout)
                    print(
                        f"prowler run {i + 1}: {run.seconds:.1f} s, exit {run.exit_code}, "
                        f"{run.total_requests} requests",
                        file=sys.stderr,
                    )
                    theirs.append(run)
                    if run.exit_code not in (0, 3):
                        break

    if args.latency_ms:
        note = (note + " " if note else "") + (
            f"Every request waited {args.latency_ms:g} ms in the server (latency mode)."
        )
    print(markdown(buckets, ours, theirs, setup_seconds, note))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "buckets": [asdict(b) for b in buckets],
                    "setup_seconds": setup_seconds,
                    "runs": [
                        {**asdict(r), "total_requests": r.total_requests} for r in ours + theirs
                    ],
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0 if all(r.exit_code in (0, 1, 4) for r in ours) else 1


if __name__ == "__main__":
    sys.exit(main())
