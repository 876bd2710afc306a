"""The LSF/openlava cluster name of this host, read from the LSF configuration files.

The old `lava-import-openlava` took it from `ls_getclustername()`. In openlava 2.2
(zjma/openlava, read for this module) that call does not read files: it asks the
local LIM (`lsf/lib/lib.info.c`: `getname_(LIM_GET_CLUSNAME)` over `_LOCAL_`), so the
old importer needed the openlava library *and* a running LIM. The LIM got the name
from the configuration, which is what this module reads instead:

- `lsf/lib/lib.initenv.c` `initenv_`/`readconfenv_`: `lsf.conf` lives in
  `$LSF_ENVDIR` (else the build's etc directory; /etc here). Lines are `KEY=value`
  with no blank after `=`, the value optionally in double quotes; the conf line reader
  (`getNextLineD_`) drops `#` comments outside quotes and joins backslash-continued
  lines. `doEnvParams_` then lets the environment override what lsf.conf says
  (`LSF_CONFDIR` included).
- `lsf/lim/lim.conf.c` `readShared`/`doclist`: `$LSF_CONFDIR/lsf.shared` has a
  `Begin Cluster` … `End Cluster` section whose first line names the columns
  (`ClusterName [Servers]`, any case); openlava keeps only the first cluster listed
  and logs "Ignoring cluster" for the others.
- `lim.conf.c` `setMyClusterName`/`readCluster`: the LIM then checks that this host
  (`ls_getmyhostname()`) is in the `HOSTNAME` column of a `Begin Host` section of
  `lsf.cluster.<name>` (compared without regard to case) and exits if not.

Differences, on purpose: several clusters (IBM LSF MultiCluster lists them all in
lsf.shared) are told apart by which `lsf.cluster.<name>` lists this host, by its short
name or FQDN, instead of taking the first; without lsf.shared the names of the
`lsf.cluster.<name>` files are the candidates (names with a character openlava forbids
in names, such as `.` in `lsf.cluster.x.bak`, are skipped); a missing LSF_CONFDIR
falls back to LSF_ENVDIR; an lsf.conf line that does not parse is skipped rather than
failing the whole file.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

DEFAULT_ENVDIR = "/etc"
#: `ILLEGAL_CHARS` of lim.conf.c: no host type, model or index name may contain these.
_ILLEGAL = set(".!-=+*/[]@:&|{}'`\"")
_TOKEN = re.compile(r'"(?:[^"]|"")*"|\([^)]*\)|\S+')
_FIX = 'set cluster = "..." in the [[sinks]] table, or --cluster_name'


class ClusterNameError(ValueError):
    """No cluster name could be inferred; the message says what was looked at and the fix."""

    def __init__(self, problem: str, looked_at: Sequence[str], candidates: Sequence[str] = ()) -> None:
        self.problem, self.looked_at, self.candidates = problem, list(looked_at), list(candidates)
        super().__init__(f"cannot infer the LSF cluster name: {problem}; looked at {', '.join(looked_at)}; {_FIX}")


def conf_lines(text: str) -> list[str]:
    """Meaningful lines of an LSF config file: comments dropped, continuations joined, blanks skipped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line, quoted = [], False
        for ch in raw:
            if ch == '"':
                quoted = not quoted
            elif ch == "#" and not quoted:
                break
            line.append(ch)
        joined = "".join(line)
        if joined.endswith("\\") and len(joined) == len(raw):  # a continuation (not one inside a comment)
            pending += joined[:-1] + " "
            continue
        joined = (pending + joined).strip()
        pending = ""
        if joined:
            out.append(joined)
    if pending.strip():
        out.append(pending.strip())
    return out


def parse_lsf_conf(text: str) -> dict[str, str]:
    """`KEY=value` pairs of lsf.conf; quotes ('…' or "…") around the value are removed."""
    values: dict[str, str] = {}
    for line in conf_lines(text):
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not key or " " in key or value[:1] in (" ", "\t"):
            continue  # openlava: LSE_CONF_SYNTAX
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def _sections(text: str, name: str) -> list[list[list[str]]]:
    """Every `Begin <name>` … `End <name>` section as rows of tokens, header row first."""
    found: list[list[list[str]]] = []
    current: Optional[list[list[str]]] = None
    for line in conf_lines(text):
        words = line.split()
        if len(words) >= 2 and words[0].lower() in ("begin", "end") and words[1].lower() == name:
            current = [] if words[0].lower() == "begin" else None
            if current is not None:
                found.append(current)
            continue
        if current is not None:
            current.append(_TOKEN.findall(line))
    return found


def _column(sections: list[list[list[str]]], key: str) -> list[str]:
    """The values of column `key` (any case) of vertical-format sections, in file order."""
    values: list[str] = []
    for rows in sections:
        if not rows or any("=" in word for word in rows[0]):
            continue  # empty, or the horizontal format openlava never implemented
        header = [word.lower() for word in rows[0]]
        if key not in header:
            continue
        i = header.index(key)
        values += [row[i].strip('"') for row in rows[1:] if len(row) > i]
    return values


def cluster_names(lsf_shared: str) -> list[str]:
    """The names in lsf.shared's Cluster section(s), in order, without repeats."""
    return list(dict.fromkeys(_column(_sections(lsf_shared, "cluster"), "clustername")))


def cluster_hosts(lsf_cluster: str) -> list[str]:
    """The HOSTNAME column of every Host section of an lsf.cluster.<name> file."""
    return _column(_sections(lsf_cluster, "host"), "hostname")


def this_host_names() -> list[str]:
    """This host as LSF may have written it: gethostname() and the FQDN, each with its short form."""
    names = [socket.gethostname(), socket.getfqdn()]
    return list(dict.fromkeys(n.lower() for name in names if name for n in (name, name.split(".")[0])))


def _lists_host(hosts: Iterable[str], mine: Sequence[str]) -> bool:
    return any(h.lower() in mine or h.lower().split(".")[0] in mine for h in hosts)


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def infer_cluster(environ: Mapping[str, str] = os.environ, *, host_names: Optional[Sequence[str]] = None) -> str:
    """The cluster this host belongs to, from lsf.conf, lsf.shared and lsf.cluster.<name>.

    Raises ClusterNameError naming every path read and the fix when there is no lsf.conf
    (and no LSF_CONFDIR in `environ`), no candidate name, or several candidates of which
    not exactly one lists this host. `host_names` (lower case) replaces this host's names.
    """
    envdir = Path(environ.get("LSF_ENVDIR") or DEFAULT_ENVDIR)
    conf_path = envdir / "lsf.conf"
    looked = [str(conf_path)]
    conf_text = _read(conf_path)
    conf = parse_lsf_conf(conf_text) if conf_text is not None else {}
    if conf_text is None and not environ.get("LSF_CONFDIR"):
        raise ClusterNameError(f"{conf_path} cannot be read (set LSF_ENVDIR to the directory holding lsf.conf)",
                               looked)
    confdir = Path(environ.get("LSF_CONFDIR") or conf.get("LSF_CONFDIR") or conf.get("LSF_ENVDIR") or envdir)
    shared_path = confdir / "lsf.shared"
    looked.append(str(shared_path))
    shared = _read(shared_path)
    candidates = cluster_names(shared) if shared is not None else []
    if not candidates:
        try:
            files = sorted(p.name for p in confdir.glob("lsf.cluster.*") if p.is_file())
        except OSError:
            files = []
        candidates = [f[len("lsf.cluster."):] for f in files if not set(f[len("lsf.cluster."):]) & _ILLEGAL]
        looked.append(str(confdir / "lsf.cluster.*"))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        where = "lsf.shared has no Cluster section" if shared is not None else "there is no lsf.shared"
        raise ClusterNameError(f"{where} and no lsf.cluster.<name> file in {confdir}", looked)
    mine = list(host_names) if host_names is not None else this_host_names()
    listing = []
    for name in candidates:
        path = confdir / f"lsf.cluster.{name}"
        looked.append(str(path))
        text = _read(path)
        if text is not None and _lists_host(cluster_hosts(text), mine):
            listing.append(name)
    if len(listing) == 1:
        return listing[0]
    which = f"{len(listing)} of them ({', '.join(listing)}) list" if listing else "none of them lists"
    raise ClusterNameError(f"there are several clusters ({', '.join(candidates)}) and {which} this host "
                           f"({', '.join(mine)}) in its lsf.cluster.<name> file", looked, candidates)

