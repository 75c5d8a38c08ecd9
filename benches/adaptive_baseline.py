#!/usr/bin/env python3
"""Baseline for the fleet benchmark: the script a user would write with botocore.

Sends one SendActivationCode per contact channel ARN, 32 at a time, with nothing but
botocore's own "adaptive" retry mode between it and the service quota: no limiter of its
own, no retries beyond botocore's. That mode retries throttled and transient failures up to
MAX_ATTEMPTS attempts in all (exponential backoff with jitter, and a retry quota) and
paces the client with a token bucket that shrinks (CUBIC) on each throttling error.

MAX_ATTEMPTS is 10, not botocore's default of 3: a user who expects throttling raises it,
and 10 leaves the adaptive limiter time to settle on the quota before a channel runs out
of attempts.

Usage:
    adaptive_baseline.py --endpoint-url http://127.0.0.1:PORT [ARN_FILE | -]

ARNs are read one per line from ARN_FILE, or from stdin when it is absent or `-`; blank
lines and lines starting with `#` are skipped. Each ARN's region picks its client's
signing region. Credentials come from the environment (botocore's chain); when none are
set, the emulator's published key (AKIDEMULATOR / emulator-secret) is used. The endpoint
must be a loopback address.

Prints one line of JSON, e.g. {"sent": 200, "failed": 0, "seconds": 12.3, ...}, where
seconds runs from creating the clients to the last answer. Exits 0 when every channel got
a code, 1 when some did not (the summary is printed all the same), 2 on bad usage.
"""

import argparse
import collections
import concurrent.futures
import ipaddress
import json
import os
import sys
import time
import urllib.parse

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

MAX_ATTEMPTS = 10
WORKERS = 32
DEFAULT_REGION = "us-east-1"


def region_of(arn):
    """The region field of an ARN (arn:partition:service:region:account:resource)."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[3]:
        return parts[3]
    return DEFAULT_REGION


def is_loopback(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_arns(source):
    if source in (None, "-"):
        lines = sys.stdin.read().splitlines()
    else:
        with open(source, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--endpoint-url", required=True, help="the emulator, http://127.0.0.1:PORT")
    parser.add_argument("arns", nargs="?", help="file of channel ARNs, one a line (default stdin)")
    parser.add_argument(
        "--deadline-seconds",
        type=float,
        default=1800.0,
        help="give up on channels still unanswered after this long (default 1800)",
    )
    args = parser.parse_args()
    if not is_loopback(args.endpoint_url):
        parser.error(f"refusing a non-loopback endpoint: {args.endpoint_url}")
    try:
        arns = read_arns(args.arns)
    except OSError as error:
        parser.error(f"cannot read ARNs: {error}")

    # The emulator's key unless the caller chose one; never instance metadata.
    if not os.environ.get("AWS_ACCESS_KEY_ID"):
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIDEMULATOR"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "emulator-secret"
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    config = Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        # One pooled connection per worker, so no thread waits for or drops a connection.
        max_pool_connections=WORKERS,
        connect_timeout=5,
        read_timeout=30,
    )
    started = time.monotonic()
    session = botocore.session.get_session()
    # Clients are thread-safe once made, but making them is not: make them all up front.
    clients = {
        region: session.create_client(
            "ssm-contacts",
            region_name=region,
            endpoint_url=args.endpoint_url,
            config=config,
        )
        for region in sorted({region_of(arn) for arn in arns})
    }

    def send(arn):
        clients[region_of(arn)].send_activation_code(ContactChannelId=arn)

    errors = collections.Counter()
    sent = 0
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS)
    futures = [executor.submit(send, arn) for arn in arns]
    done, not_done = concurrent.futures.wait(futures, timeout=args.deadline_seconds)
    for future in done:
        error = future.exception()
        if error is None:
            sent += 1
        elif isinstance(error, ClientError):
            errors[error.response.get("Error", {}).get("Code") or "ClientError"] += 1
        elif isinstance(error, BotoCoreError):
            errors[type(error).__name__] += 1
        else:
            errors[f"unexpected {type(error).__name__}"] += 1
    if not_done:
        errors["deadline"] += len(not_done)
    seconds = time.monotonic() - started

    failed = len(arns) - sent
    summary = {
        "sent": sent,
        "failed": failed,
        "seconds": round(seconds, 3),
        "maxAttempts": MAX_ATTEMPTS,
        "workers": WORKERS,
        "errors": dict(sorted(errors.items())),
    }
    print(json.dumps(summary), flush=True)
    code = 1 if failed else 0
    if not_done:
        # Calls still running past the deadline would keep the pool's threads alive.
        executor.shutdown(wait=False, cancel_futures=True)
        sys.stderr.flush()
        os._exit(code)
    executor.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
