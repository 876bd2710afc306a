"""Records as esmond measurements: the metadata each belongs to and the points it adds (pure).

A spooled envelope (formats gridftp, gridftp-json, bwctl-iperf3, iperf3) becomes one
`Measurement` (measurement.py): the metadata fields that do not depend on this host's
address, where that address goes (known, or a name the client resolves: DNS is I/O and
this module is pure), the event types the metadata registers, and the points at one
timestamp.

What goes into metadata, and why: esmond's metadata is the identity of a series: every
free-form key is part of its checksum, so anything that changes from one measurement to
the next (bytes, file, times) makes a new metadata object per measurement; the old
GridFTP loader's `gridftp-bytes-transferred` did exactly that. Only what is stable for an
endpoint pair is metadata here: the subject (addresses, tool, names as given), the
test's configuration (streams, stripes, block and TCP buffer sizes, program; protocol,
duration, omitted seconds for iperf3), and the event types, which are the same for
every record of a metadata whatever its outcome, so a failure does not start a series
of its own. The per-record facts are points. Per-format details: gridftp.py, iperf3.py.
"""
from __future__ import annotations

from typing import Any, Optional

from . import gridftp, iperf3
from .measurement import Measurement, Options, Unusable

FORMATS = ("gridftp", "gridftp-json", "bwctl-iperf3", "iperf3")


def measure(envelope: dict[str, Any], options: Options) -> Optional[Measurement]:
    """The measurement of one envelope, or None when there is nothing to archive.

    None means the record is delivered without a request: a GridFTP transfer other than
    RETR/STOR (LIST, NLST, ESTO, ERET...) or a RAMSES marker event. Raises `Unusable` for a
    record that cannot be archived (wrong format, fields missing).
    """
    fmt = envelope.get("format")
    record_id = envelope.get("id")
    data = envelope.get("data")
    if not isinstance(record_id, str):
        raise Unusable("the record has no id")
    if fmt in ("gridftp", "gridftp-json"):
        if not isinstance(data, dict):
            raise Unusable(f"a {fmt} record without data")
        if fmt == "gridftp-json" and envelope.get("type") != "Transfer-End":
            return None
        return gridftp.measure(record_id, fmt, data, options)
    if fmt in ("bwctl-iperf3", "iperf3"):
        if not isinstance(data, dict):
            raise Unusable(f"a {fmt} record without data")
        return iperf3.measure(record_id, fmt, envelope.get("host"), envelope.get("time"), data, options)
    raise Unusable(f"the esmond sink archives formats {', '.join(FORMATS)}, not {fmt!r}: route this source to "
                   "another sink")
