"""Benchmarks of securestore against baselines measured in the same run.

Run ``python -m benchmarks`` (``make bench``); see ``python -m benchmarks --help``.
Not part of the test suite: nothing here is collected by pytest.

Modules, one concern each: :mod:`.timing` (best-of timing), :mod:`.crypto`
(in-memory engine vs AES-GCM and the aws-encryption-sdk), :mod:`.frames` (the
frame-length sweep), :mod:`.endpoints` (``rclone serve s3`` over TLS),
:mod:`.transfer` (upload/download throughput and peak memory, run in
subprocesses by :mod:`.child`), :mod:`.ranged` (bytes and time of ranged
reads), :mod:`.report` (the console table and ``docs/benchmarks.md``).
"""
