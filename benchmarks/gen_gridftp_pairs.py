#!/usr/bin/env python3
"""Generate a GridFTP transfer log for the esmond benchmark: N lines, a bounded set of endpoint pairs.

The shape of the real samples (tests/parsers/samples/gridftp/): DATE HOST PROG NL.EVNT
START USER FILE BUFFER BLOCK NBYTES VOLUME STREAMS STRIPES DEST TYPE CODE, ~280 bytes.
What the benchmark needs on top:

- `--pairs` (default 100) (HOST, DEST) pairs, each with its own fixed settings (streams,
  stripes, TCP buffer, block size), as a DTN's transfers to one peer usually have; with
  RETR and STOR that is at most 2 x pairs esmond metadata (200 by default);
- START strictly increasing by one second a line, so no two transfers of one metadata
  share a timestamp: esmond keeps one throughput point per second per metadata, and
  the benchmark counts points to prove each record arrived once;
- 5 % of FILE values with spaces and `=` (the NERSC sample's cases), 10 % with TASKID,
  20 % with retrans, 3 % failed (CODE 426/451/500), never a zero duration.

    python benchmarks/gen_gridftp_pairs.py 1000000 /tmp/gridftp.log [SEED]
"""
from __future__ import annotations

import random
import sys
import time
import uuid

USERS = ["alice", "bob", "cmsprod", "atlasprd", "ligo", "glock", "ftp"]
DIRS = ["/data/cms/store/mc/RunIISummer20", "/lustre/project/climate/cmip5/output1", "/data/x",
        "/home/c/glock/pic/constance/forecast/Global/complete/wrf2019051000"]
ODD = ["/data/My Documents/run {n}.dat", "/data/wrf1hr=d03/out_{n}.nc", "/scratch/a b=c/part {n}.h5"]


def main() -> int:
    n, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
    pairs_n = 100
    hosts = [f"dtn{i}.example.org" for i in range(1, 5)]
    pairs = [(rnd.choice(hosts), f"198.51.{rnd.randrange(0, 4)}.{rnd.randrange(1, 255)}",
              rnd.choice((1, 4, 8)), rnd.choice((1, 2)), rnd.choice((87380, 4194304)), rnd.choice((262144, 1048576)))
             for _ in range(pairs_n)]
    start = int(time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, 0)))
    size = 0
    with open(out, "w", buffering=1 << 20) as fh:
        for i in range(n):
            host, dest, streams, stripes, buf, block = pairs[rnd.randrange(pairs_n)]
            t0 = start + i
            usec0 = rnd.randrange(1_000_000)
            dur_us = rnd.randrange(50_000, 600_000_000)
            t1_us = t0 * 1_000_000 + usec0 + dur_us
            nbytes = rnd.randrange(1 << 20, 1 << 36)
            if rnd.random() < 0.05:
                fname = rnd.choice(ODD).format(n=i)
            else:
                fname = f"{rnd.choice(DIRS)}/file{rnd.randrange(10 ** 6)}.dat"
            code = 226 if rnd.random() >= 0.03 else rnd.choice((426, 451, 500))
            line = (f"DATE={_ts(t1_us)} HOST={host} PROG=globus-gridftp-server NL.EVNT=FTP_INFO "
                    f"START={_ts(t0 * 1_000_000 + usec0)} USER={rnd.choice(USERS)} FILE={fname} BUFFER={buf} "
                    f"BLOCK={block} NBYTES={nbytes} VOLUME=/ STREAMS={streams} STRIPES={stripes} DEST=[{dest}] "
                    f"TYPE={rnd.choice(('RETR', 'RETR', 'STOR'))} CODE={code}")
            if rnd.random() < 0.10:
                line += f" TASKID={uuid.UUID(int=rnd.getrandbits(128))}"
            if rnd.random() < 0.20:
                line += " retrans=" + ",".join(str(rnd.randrange(100)) for _ in range(streams))
            fh.write(line + "\n")
            size += len(line) + 1
    print(f"wrote {n} lines, {size} bytes, {size / max(n, 1):.0f} B/line", file=sys.stderr)
    return 0


def _ts(usec: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(usec // 1_000_000)) + f".{usec % 1_000_000:06d}"


if __name__ == "__main__":
    sys.exit(main())
