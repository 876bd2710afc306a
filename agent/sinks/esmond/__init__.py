"""The `esmond` sink: GridFTP transfers and bwctl/iperf3 results archived in an esmond perfSONAR measurement archive.

Split by role (STYLE.md §2): `config` the `[[sinks]]` keys; `measure` (with `gridftp`,
`iperf3` and `measurement`) what a record becomes: its metadata and points, pure;
`encode` a batch as groups by metadata with their PUT bodies built, pure (with a fast
path for gridftp records); `address` this host's address when a record names it only;
`keys` the metadata keys kept across batches and restarts; `client` the requests and what
each answer means.
"""
from __future__ import annotations

from .client import EsmondSink, open
from .config import Config
from .encode import Encoded

__all__ = ["Config", "Encoded", "EsmondSink", "open"]
