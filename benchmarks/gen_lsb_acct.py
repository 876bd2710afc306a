#!/usr/bin/env python3
"""Generates an LSF 10 style lsb.acct: N JOB_FINISH records of about 600-900 bytes each.

The layout is the one of the real LSF 10.1 sample (tests/parsers/samples/openlava-acct,
from aws-samples/hpc-cost-simulator): the openlava JOB_FINISH fields, `timeEvent`
before `idx`, then LSF's trailing fields. Values vary the way a busy cluster's do:
users, queues, 1-64 slots on 1-8 of 400 hosts (one exec host entry per slot, as
openlava writes them), job names and commands with quotes (doubled, as `addQStr`
writes them), spaces and the occasional UTF-8 character. Seeded: the same N and seed
give the same bytes. Job ids are unique, so a sink's count of distinct
(jobId, submitTime) pairs is the exactly-once check.

Example:
    python benchmarks/gen_lsb_acct.py 1000000 /tmp/lsb.acct
"""
from __future__ import annotations

import random
import sys

USERS = [f"user{i:03d}" for i in range(200)]
QUEUES = ["normal", "short", "long", "gpu", "bigmem", "interactive"]
HOSTS = [f"c{r:02d}n{n:03d}.hpc" for r in range(1, 11) for n in range(1, 41)]
PROGRAMS = ["./run_model --input data/{n}.nc --steps {k}", "mpirun -np {k} ./lmp -in in.{n}",
            "python3 train.py --epochs {k} --name \"exp {n}\"", "/bin/sleep {k}",
            "Rscript analyse.R \"sample_{n}\" {k}", "bash -c \"cd /scratch/{n} && make -j{k}\"",
            "./bench --label 'naïve run {n}' {k}"]
RESREQ = ["select[type == any] order[r15s:pg] ", "rusage[mem=4000] span[ptile={k}]", "",
          "select[mem>8000] rusage[mem=8000]"]


def q(text: str) -> str:
    """A string field as LSF writes it: quoted, inner quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def record(rng: random.Random, job_id: int, base: int) -> str:
    user = rng.choice(USERS)
    queue = rng.choice(QUEUES)
    slots = rng.choice((1, 1, 1, 2, 4, 8, 16, 32, 64))
    nhosts = min(slots, rng.choice((1, 1, 2, 4, 8)))
    hosts = rng.sample(HOSTS, nhosts)
    exec_hosts = [hosts[i % nhosts] for i in range(slots)] if slots <= 8 else hosts
    submit = base + job_id // 3
    start = submit + rng.randint(0, 3600)
    end = start + rng.randint(1, 86400)
    k, n = rng.randint(1, 512), rng.randint(1, 99999)
    command = rng.choice(PROGRAMS).format(k=k, n=n)
    job_name = rng.choice([f"job_{n}", f"sim \"{n}\"", f"array[{k}]", command[:20]])
    utime, stime = rng.uniform(0, 1e5), rng.uniform(0, 1e3)
    status, exit_status = (64, 0) if rng.random() < 0.9 else (32, rng.choice((256, 9, 15, 34304)))
    rusage = [f"{utime:.6f}", f"{stime:.6f}", str(rng.randint(1000, 9_000_000)), "0", "-1", "0", "0",
              str(rng.randint(100, 10**6)), str(rng.randint(0, 100)), "0", str(rng.randint(0, 10**6)),
              str(rng.randint(0, 10**6)), "-1", "0", "0", "0", str(rng.randint(0, 10**5)),
              str(rng.randint(0, 10**4)), "-1"]
    fields = [q("JOB_FINISH"), q("10.108"), str(end), str(job_id), str(rng.randint(1000, 60000)),
              str(rng.choice((33554434, 33554450, 33686018, -2143289344))), str(slots), str(submit), "0", "0",
              str(start), q(user), q(queue), q(rng.choice(RESREQ).format(k=max(1, slots // nhosts))), q(""),
              q(""), q(rng.choice(HOSTS)), q(f"/home/{user}/work/{n}"), q(""), q(f"/home/{user}/out/%J.out"),
              q(""), q(f"{submit}.{job_id}"), "0", str(len(exec_hosts)), *[q(h) for h in exec_hosts],
              str(status), "100.0", q(job_name), q(command), *rusage, q(""), q(rng.choice(("default", "climate",
                                                                                            "genomics"))),
              str(exit_status), str(slots), q(""), q(""), "0", str(rng.randint(0, 64 << 20)),
              str(rng.randint(0, 64 << 20)), q(""), q(""),
              # LSF 10.1 trailing fields, as in the sample (rsvId ... schedulingOverhead)
              q(""), q(""), "0", q(""), "0", q(""), "-1", q(""), q(""), q(""), q(""), "-1", q(""), q(""),
              str(rng.choice((5136, 5120))), q(""), str(start), q(""), q(""), "5", "1110", q(queue),
              "1041", q("jfincache"), "1086", q("-1 " * 12), "1032", q("0"), "1033", q("0"), "0", "-1",
              "4194304", str(rng.randint(1000, 10**6)), q(rng.choice(RESREQ).format(k=1)), q(""), "-1", q(""),
              "-1", "0", q(""), "0", "0", q(""), str(end - start), q(f"/home/{user}/work/{n}"), "0", q(""),
              "0.000000", "0.00", "0.00", "0.00", "0.00", str(len(exec_hosts)), *[q(h) for h in exec_hosts], "-1", "0", "0",
              "0", "0", "1", q("schedulingOverhead"), q("0.00")]
    return " ".join(fields)


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    count, path = int(argv[1]), argv[2]
    rng = random.Random(int(argv[3]) if len(argv) == 4 else 42)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for job_id in range(1, count + 1):
            out.write(record(rng, job_id, 1_700_000_000) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
