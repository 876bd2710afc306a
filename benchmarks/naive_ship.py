#!/usr/bin/env python3
# Adapted from the project's shared checks, ../shared/checks/naive_ship.py: same wire format and
# batching, plus a stdlib json fallback when orjson is missing and a usage line. Kept under
# benchmarks/ so the side-by-side ratio can be measured in a plain clone.
"""A naive shipper as a yardstick: read lines, wrap each as {"message": line}, POST NDJSON
batches of 1000 over one keep-alive connection. No parsing, no spool, no checkpoint, no retries.

    python3 naive_ship.py FILE PORT
"""
import http.client
import sys

try:
    from orjson import dumps
except ImportError:  # pragma: no cover - the agent depends on orjson, so it is normally there
    import json

    def dumps(obj):
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()

BATCH = 1000


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    path, port = sys.argv[1], int(sys.argv[2])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    batch = []

    def send():
        body = b"\n".join(batch) + b"\n"
        conn.request("POST", "/ingest", body, {"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 300:
            raise SystemExit(f"naive_ship: receiver answered {resp.status}")
        batch.clear()

    with open(path, "rb") as fh:
        for line in fh:
            batch.append(dumps({"message": line.rstrip(b"\n").decode("utf-8", "replace")}))
            if len(batch) >= BATCH:
                send()
    if batch:
        send()
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
