#!/usr/bin/env python3
# Copied unchanged (apart from this header) from the project's shared checks,
# ../shared/checks/http_sink.py (also tools/http_sink.py of the peer baseline, 2026-11-22),
# so the benchmark runs in a plain clone. It is the receiver the peers were measured against.
"""Minimal, fast HTTP/1.1 batch sink for benchmarking log shippers (stdlib only).

Accepts POSTed batches on 127.0.0.1 and counts records and body bytes:
  * NDJSON / JSON lines (Fluent Bit out_http format json_lines): 1 record a line
  * JSON array (Fluent Bit format json): parsed, len() of the array
  * Elasticsearch _bulk (path contains "_bulk", e.g. rsyslog omelasticsearch):
    action+source line pairs -> lines/2 records; replies {"errors":false,...}
  * anything else (text/plain): 1 record a line
Handles keep-alive, Content-Length, chunked bodies, Expect: 100-continue, and
answers GET / like an Elasticsearch node (some clients probe the version).

Exactly-once check (--verify, default on): every record of the test log has a
unique DATE value; the sink collects them (regex over the raw body) and reports
total keys, distinct keys and duplicates.

When --expect N records have arrived it prints a JSON summary line, writes it to
--done-file (if given) and, with --exit, exits. GET /stats returns the counters
at any time; POST /reset zeroes them (so one sink can serve several runs).

    python3 http_sink.py --port 18080 --expect 1000000 --done-file /tmp/done.json
"""
import argparse
import asyncio
import json
import os
import re
import sys
import time

KEY_RE_DEFAULT = rb'DATE(?:=|"\s*:\s*")(\d{14}\.\d{6})'


class Stats:
    def __init__(self, expect, verify, key_re):
        self.expect = expect
        self.verify = verify
        self.key_re = re.compile(key_re)
        self.reset()

    def reset(self):
        self.requests = 0
        self.records = 0
        self.body_bytes = 0
        self.keys_total = 0
        self.keys = set()
        self.t_first = None
        self.t_last = None
        self.t_done = None
        self.t_reset = time.time()
        self.done_reported = False

    def summary(self):
        d = {
            "requests": self.requests, "records": self.records,
            "body_bytes": self.body_bytes, "t_first": self.t_first,
            "t_last": self.t_last, "t_done": self.t_done, "t_reset": self.t_reset,
            "expect": self.expect,
        }
        if self.verify:
            d.update(keys_total=self.keys_total, keys_distinct=len(self.keys),
                     duplicates=self.keys_total - len(self.keys))
        return d


def count_records(path: str, ctype: str, body: bytes) -> int:
    if not body:
        return 0
    if "_bulk" in path:
        n = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
        return n // 2
    stripped = body.lstrip()
    if stripped[:1] == b"[":
        try:
            return len(json.loads(body))
        except ValueError:
            pass
    n = body.count(b"\n")
    if not body.endswith(b"\n"):
        n += 1
    return n


class SinkProtocol(asyncio.Protocol):
    def __init__(self, app):
        self.app = app
        self.buf = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while True:
            if not self._try_request():
                break

    def _try_request(self) -> bool:
        buf = self.buf
        hend = buf.find(b"\r\n\r\n")
        if hend < 0:
            return False
        head = bytes(buf[:hend]).decode("latin-1")
        lines = head.split("\r\n")
        try:
            method, path, _ver = lines[0].split(" ", 2)
        except ValueError:
            self.transport.close()
            return False
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        pos = hend + 4
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                le = buf.find(b"\r\n", pos)
                if le < 0:
                    self._maybe_continue(hdrs)
                    return False
                size = int(bytes(buf[pos:le]).split(b";")[0], 16)
                if size == 0:
                    te = buf.find(b"\r\n\r\n", le)  # trailers end
                    if te < 0:
                        if len(buf) >= le + 4 and buf[le:le + 4] == b"\r\n\r\n":
                            te = le
                        else:
                            return False
                    pos = te + 4
                    break
                if len(buf) < le + 2 + size + 2:
                    self._maybe_continue(hdrs)
                    return False
                body += buf[le + 2:le + 2 + size]
                pos = le + 2 + size + 2
            body = bytes(body)
        else:
            clen = int(hdrs.get("content-length", "0") or 0)
            if len(buf) < pos + clen:
                self._maybe_continue(hdrs)
                return False
            body = bytes(buf[pos:pos + clen])
            pos += clen
        del buf[:pos]
        self._sent_continue = False
        self._handle(method, path, hdrs, body)
        return True

    def _maybe_continue(self, hdrs):
        if hdrs.get("expect", "").lower() == "100-continue" and not getattr(self, "_sent_continue", False):
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._sent_continue = True

    def _reply(self, status: str, payload: bytes, close=False):
        self.transport.write(
            b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(payload)).encode() + b"\r\n"
            + (b"Connection: close\r\n" if close else b"") + b"\r\n" + payload)
        if close:
            self.transport.close()

    def _handle(self, method, path, hdrs, body):
        st = self.app.stats
        close = hdrs.get("connection", "").lower() == "close"
        if method == "GET":
            if path.startswith("/stats"):
                self._reply("200 OK", json.dumps(st.summary()).encode(), close)
            else:  # look like an Elasticsearch node for clients that probe it
                self._reply("200 OK", b'{"name":"sink","cluster_name":"sink","version":'
                            b'{"number":"7.17.0","lucene_version":"8.11.1"},"tagline":"You Know, for Search"}',
                            close)
            return
        if method == "POST" and path.startswith("/reset"):
            st.reset()
            self._reply("200 OK", b"{}", close)
            return
        if method not in ("POST", "PUT"):
            self._reply("405 Method Not Allowed", b"{}", close)
            return
        now = time.time()
        if st.t_first is None:
            st.t_first = now
        st.t_last = now
        st.requests += 1
        st.body_bytes += len(body)
        n = count_records(path, hdrs.get("content-type", ""), body)
        st.records += n
        if st.verify:
            ks = st.key_re.findall(body)
            st.keys_total += len(ks)
            st.keys.update(ks)
        if "_bulk" in path:
            self._reply("200 OK", b'{"took":1,"errors":false,"items":[]}', close)
        else:
            self._reply("201 Created", b'{"ok":true}', close)
        if st.expect and not st.done_reported:
            got = len(st.keys) if st.verify else st.records
            if got >= st.expect:
                st.t_done = now
                st.done_reported = True
                self.app.report_done()


class App:
    def __init__(self, args):
        self.args = args
        self.stats = Stats(args.expect, not args.no_verify, args.key_regex.encode())
        self.loop = None

    def report_done(self):
        s = json.dumps(self.stats.summary())
        print(s, flush=True)
        if self.args.done_file:
            tmp = self.args.done_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(s + "\n")
            os.replace(tmp, self.args.done_file)
        if self.args.exit:
            self.loop.call_later(0.2, self.loop.stop)


async def amain(args):
    app = App(args)
    app.loop = asyncio.get_running_loop()
    server = await app.loop.create_server(lambda: SinkProtocol(app), args.host, args.port,
                                          backlog=1024, reuse_address=True)
    print(f"http_sink listening on {args.host}:{args.port} pid={os.getpid()}", file=sys.stderr,
          flush=True)
    if args.ready_file:
        open(args.ready_file, "w").write(str(os.getpid()))
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--expect", type=int, default=0, help="records to wait for (0: never)")
    ap.add_argument("--done-file", default=None)
    ap.add_argument("--ready-file", default=None)
    ap.add_argument("--exit", action="store_true", help="exit once --expect is reached")
    ap.add_argument("--no-verify", action="store_true", help="skip the unique-key check")
    ap.add_argument("--key-regex", default=KEY_RE_DEFAULT.decode())
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("refusing to bind to a non-loopback address")
    try:
        asyncio.run(amain(args))
    except (KeyboardInterrupt, RuntimeError):
        pass


if __name__ == "__main__":
    main()
