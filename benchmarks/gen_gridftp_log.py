#!/usr/bin/env python3
# Copied unchanged (apart from this header) from the project's shared checks,
# ../shared/checks/gen_gridftp_log.py (also tools/gen_gridftp_log.py of the peer baseline, 2026-11-22),
# so the benchmark runs in a plain clone. Keep the two in step: the peer figures in README.md
# were measured on this generator's output (seed 42).
"""Generate a synthetic GridFTP-style transfer log (one key=value record a line).

Every line has a unique DATE (strictly increasing microsecond timestamps), so a
receiver can check exactly-once delivery by collecting the DATE values.

    python3 gen_gridftp_log.py -n 1000000 -o $PEERS/data/gridftp.log

Deterministic for a given --seed. Lines are ~250-300 bytes.
"""
import argparse
import datetime as dt
import random
import sys

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
         "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert",
         "sybil", "trent", "victor", "walter", "cmsprod", "atlasprd", "ligo"]
DIRS = ["/data/x", "/data/cms/store/mc/RunIISummer20", "/data/atlas/rucio/mc16_13TeV",
        "/scratch/ligo/O3/frames", "/home/alice/results", "/archive/2015/03/24",
        "/data/genomics/run0042/fastq", "/lustre/project/climate/cmip5/output1"]
EXTS = [".dat", ".root", ".gz", ".h5", ".fits", ".tar", ".nc", ".bam"]
NETS = ["192.0.2.", "198.51.100.", "203.0.113.", "10.12.", "172.16.4."]
CODES = [226] * 97 + [426, 451, 500]
BUFFERS = [87380, 87380, 87380, 131072, 262144, 4194304]
BLOCKS = [262144, 262144, 1048576, 65536]


def fmt_ts(t: dt.datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S.%f")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--lines", type=int, default=1_000_000)
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--start", default="2015-03-24T17:10:04")
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    base = dt.datetime.fromisoformat(args.start)
    us = dt.timedelta(microseconds=1)
    out = sys.stdout if args.output == "-" else open(args.output, "w", buffering=1 << 20)
    total = 0
    buf = []
    for i in range(args.lines):
        # strictly increasing, unique end timestamp: slot of 1000 us per line + jitter
        end = base + (i * 1000 + rnd.randrange(1000)) * us
        nbytes = rnd.choice((rnd.randrange(1, 1 << 20), rnd.randrange(1 << 20, 1 << 31),
                             1073741824, rnd.randrange(1 << 31, 1 << 38)))
        start = end - rnd.randrange(10_000, 3_600_000_000) * us
        host = f"gridftp{rnd.randrange(1, 9)}.{rnd.choice(('example.org', 'site-a.example.net', 'dtn.example.edu'))}"
        net = rnd.choice(NETS)
        ip = net + ".".join(str(rnd.randrange(1, 255)) for _ in range(4 - net.count(".")))
        fname = (f"{rnd.choice(DIRS)}/{rnd.choice(('file', 'run', 'chunk', 'part'))}"
                 f"{rnd.randrange(1, 10**rnd.randrange(3, 9))}{rnd.choice(EXTS)}")
        streams = rnd.choice((1, 1, 2, 4, 4, 8, 16))
        line = (f"DATE={fmt_ts(end)} HOST={host} PROG=globus-gridftp-server NL.EVNT=FTP_INFO "
                f"START={fmt_ts(start)} USER={rnd.choice(USERS)} FILE={fname} "
                f"BUFFER={rnd.choice(BUFFERS)} BLOCK={rnd.choice(BLOCKS)} NBYTES={nbytes} "
                f"VOLUME=/ STREAMS={streams} STRIPES={rnd.choice((1, 1, 1, 2))} DEST=[{ip}] "
                f"TYPE={rnd.choice(('RETR', 'RETR', 'STOR'))} CODE={rnd.choice(CODES)}\n")
        total += len(line)
        buf.append(line)
        if len(buf) >= 10000:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))
    if out is not sys.stdout:
        out.close()
    print(f"wrote {args.lines} lines, {total} bytes, avg {total / max(args.lines, 1):.1f} B/line",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
