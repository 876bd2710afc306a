#!/usr/bin/env bash
# Build the two forms of logspool with PyInstaller, pack the one-dir form, smoke-test both:
#   dist/logspool                                  one file; unpacks itself at every start
#   dist/logspool-onedir/                          `logspool` + `_internal/`: unpacks nothing
#   dist/logspool-<version>-linux-<arch>.tar.gz    that directory as logspool-<version>/, with
#                                                  the systemd unit, logrotate examples and
#                                                  agent.toml.example beside the executable
#
#   packaging/build.sh                  # python3 from PATH
#   PYTHON=/usr/bin/python3.11 packaging/build.sh
#   FRESH_VENV=1 packaging/build.sh     # rebuild the venv from scratch
#   SKIP_BUILD=1 packaging/build.sh     # only smoke-test the existing dist/ files
#   STATICX=1 PYTHON=/usr/bin/python3 packaging/build.sh   # also dist/logspool-static (see below)
#   PATCHED_BOOTLOADER=0 packaging/build.sh  # PyInstaller's stock bootloader (no compiler needed;
#                                       # the one-file binary then needs TMPDIR on an exec mount)
#   BUILD_DIR=build/pkg-deb DIST_DIR=build/pkg-deb/dist PYTHON=/usr/bin/python3 packaging/build.sh
#                                       # a second build beside the first
#   GLIBC_MAX=2.34 packaging/build.sh   # fail if the binary needs a newer glibc (default 2.28: RHEL/Rocky 8)
#
# The Python must have a shared libpython (PyInstaller needs libpythonX.Y.so): a distro
# python3 with its -venv/-dev packages does; so does pyenv with --enable-shared.
# The patched bootloader (packaging/bootloader/) needs gcc and the zlib headers
# (Debian: gcc zlib1g-dev; RHEL: gcc zlib-devel).
# The glibc of this machine is the oldest glibc the binary will run on (packaging/README.md).
#
# Everything the build makes stays out of git: the venv, the bootloader sources, PyInstaller's
# work files and the smoke-test files in build/packaging/, the binaries in dist/ (both in .gitignore).
# Needs network access to PyPI for the first venv (and the PyInstaller sdist, once).
# Exit code 0 only when the build and every smoke test passed. Each build step prints its seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
GLIBC_MAX=${GLIBC_MAX:-2.28}   # the oldest glibc the binary must run on: RHEL/Rocky 8
PATCHED_BOOTLOADER=${PATCHED_BOOTLOADER:-1}
BUILD=${BUILD_DIR:-$ROOT/build/packaging}
DIST=${DIST_DIR:-$ROOT/dist}
mkdir -p "$BUILD" "$DIST"
BUILD=$(cd "$BUILD" && pwd)   # absolute: pyinstaller runs from $ROOT
DIST=$(cd "$DIST" && pwd)
VENV=$BUILD/venv
BIN=$DIST/logspool
ONEDIR=$DIST/logspool-onedir
SMOKE=$BUILD/smoke
EXAMPLE_LOG=$ROOT/examples/gridftp-transfer.log
EXAMPLE_RECORDS=11
PATCH=$ROOT/packaging/bootloader/noexec-tmpdir.patch
# Pinned so that a build is repeatable; bump deliberately and re-run this script (the bootloader
# patch must then still apply: packaging/bootloader/README.md).
PYINSTALLER_REQ=${PYINSTALLER_REQ:-pyinstaller==6.22.3}
HOOKS_CONTRIB_REQ=${HOOKS_CONTRIB_REQ:-pyinstaller-hooks-contrib==2026.9}
T=${SMOKE_TIMEOUT:-120}   # seconds any one run of the binary may take

say() { printf '==> %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
# Seconds per build step, printed as each ends and again with the figures (CI time budget).
STEP_NAMES=()
STEP_SECS=()
step_t0=0
step_begin() { step_t0=$(date +%s%N); }
step_end() {  # step_end NAME
    local secs
    secs=$(awk "BEGIN{printf \"%.1f\", ($(date +%s%N) - $step_t0) / 1e9}")
    STEP_NAMES+=("$1")
    STEP_SECS+=("$secs")
    printf '    (%s: %s s)\n' "$1" "$secs"
}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)
[ -n "$version" ] || die "no version in pyproject.toml"
ARCH=$(uname -m)
TARBALL=$DIST/logspool-$version-linux-$ARCH.tar.gz

# ---------------------------------------------------------------- venv + build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    command -v "$PYTHON" >/dev/null || die "no $PYTHON (set PYTHON=...)"
    step_begin
    want=$("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')
    if [ "${FRESH_VENV:-0}" = 1 ] || [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.made-from" 2>/dev/null)" != "$want" ]; then
        say "venv: $VENV from $want"
        rm -rf "$VENV"
        mkdir -p "$BUILD"
        "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
        echo "$want" > "$VENV/.made-from"
    else
        say "venv: reusing $VENV ($want)"
    fi
    "$VENV/bin/python" - <<'EOF' || die "this Python has no shared libpython; PyInstaller cannot freeze it (use a distro python3, or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared)"
import sys, sysconfig
sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)
EOF
    say "pip install: the project, $PYINSTALLER_REQ, $HOOKS_CONTRIB_REQ"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$PYINSTALLER_REQ" "$HOOKS_CONTRIB_REQ" "$ROOT" 2> >(grep -v "^WARNING: Location '" >&2)
    step_end "venv + pip install"

    # The one-file bootloader, built from PyInstaller's own sdist with our patch
    # (packaging/bootloader/README.md): it never unpacks onto a noexec filesystem, tries more
    # directories than stock, and says in one line what it tried when none is left. It is
    # installed over the stock one in this venv's PyInstaller; .bootloader-patched records
    # what it was built from, so it is rebuilt only when the patch or PyInstaller changes.
    step_begin
    PYI_BOOT=$("$VENV/bin/python" -c 'import os, PyInstaller
from PyInstaller import PLATFORM
print(os.path.join(os.path.dirname(PyInstaller.__file__), "bootloader", PLATFORM))')
    stamp_file=$VENV/.bootloader-patched
    if [ "$PATCHED_BOOTLOADER" = 1 ]; then
        pyi_version=$("$VENV/bin/python" -c 'import PyInstaller; print(PyInstaller.__version__)')
        stamp="pyinstaller $pyi_version, patch $(sha256sum "$PATCH" | cut -c1-16)"
        if [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ] && [ -x "$BUILD/bootloader/run" ] \
                && cmp -s "$BUILD/bootloader/run" "$PYI_BOOT/run"; then
            say "bootloader: reusing the patched one ($stamp)"
        else
            command -v gcc >/dev/null || die "the patched bootloader needs gcc and the zlib headers (Debian: apt-get install gcc zlib1g-dev), or PATCHED_BOOTLOADER=0"
            command -v patch >/dev/null || die "the patched bootloader needs patch (apt-get install patch), or PATCHED_BOOTLOADER=0"
            say "bootloader: PyInstaller $pyi_version's sdist + packaging/bootloader/noexec-tmpdir.patch (log: $BUILD/bootloader.log)"
            mkdir -p "$BUILD/bootloader"
            sdist=$BUILD/bootloader/pyinstaller-$pyi_version.tar.gz
            if [ ! -f "$sdist" ]; then
                # pip reads the sdist's metadata, which needs PyInstaller's build backend
                # (hatchling): from this venv it takes about 4 s, in pip's isolated build
                # environment over a minute.
                "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check hatchling \
                    2> >(grep -v "^WARNING: Location '" >&2)
                "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
                    --no-build-isolation -d "$BUILD/bootloader" "pyinstaller==$pyi_version" \
                    2> >(grep -v "^WARNING: Location '" >&2) || die "could not download the PyInstaller $pyi_version sdist"
            fi
            [ -f "$sdist" ] || die "no $sdist after pip download"
            src=$BUILD/bootloader/src
            rm -rf "$src"
            mkdir -p "$src"
            tar -xzf "$sdist" -C "$src" --strip-components=1
            (cd "$src" && patch -p1 --forward < "$PATCH") >"$BUILD/bootloader.log" 2>&1 \
                || { cat "$BUILD/bootloader.log" >&2; die "packaging/bootloader/noexec-tmpdir.patch does not apply to PyInstaller $pyi_version"; }
            # waf's `configure all` builds run and run_d (debug) and installs them into the sdist's
            # PyInstaller/bootloader/<platform>/, as PYINSTALLER_COMPILE_BOOTLOADER=1 would.
            (cd "$src/bootloader" && "$VENV/bin/python" ./waf configure all) >>"$BUILD/bootloader.log" 2>&1 \
                || { tail -n 30 "$BUILD/bootloader.log" >&2; die "compiling the bootloader failed (needs gcc and the zlib headers: Debian gcc zlib1g-dev)"; }
            built=$src/PyInstaller/bootloader/$(basename "$PYI_BOOT")
            [ -x "$built/run" ] || die "waf made no $built/run"
            grep -qa 'no directory to unpack the one-file binary into' "$built/run" || die "$built/run has no patch in it"
            install -m 0755 "$built/run" "$built/run_d" "$PYI_BOOT/"
            install -m 0755 "$built/run" "$BUILD/bootloader/run"
            echo "$stamp" > "$stamp_file"
        fi
    elif [ -f "$stamp_file" ]; then
        say "bootloader: PATCHED_BOOTLOADER=0, putting PyInstaller's stock bootloader back"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
            "$PYINSTALLER_REQ" 2> >(grep -v "^WARNING: Location '" >&2)
        rm -f "$stamp_file"
    else
        say "bootloader: PyInstaller's stock one (PATCHED_BOOTLOADER=0)"
    fi
    step_end "bootloader"

    say "pyinstaller packaging/logspool.spec: one Analysis, the one-file and the one-dir form (log: $BUILD/pyinstaller.log)"
    step_begin
    rm -rf "$BIN" "$ONEDIR"
    if ! (cd "$ROOT" && "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
            --distpath "$DIST" --workpath "$BUILD/work" packaging/logspool.spec) >"$BUILD/pyinstaller.log" 2>&1; then
        tail -n 40 "$BUILD/pyinstaller.log" >&2
        die "pyinstaller failed"
    fi
    step_end "pyinstaller (both forms)"

    # The tarball: what a site unpacks under /opt/logspool. The examples go beside the
    # executable in the same layout as packaging/ (systemd/, logrotate/), so README.md's
    # install lines read the same from a checkout and from the tarball.
    say "tarball: $TARBALL"
    step_begin
    [ -x "$ONEDIR/logspool" ] && [ -d "$ONEDIR/_internal" ] || die "pyinstaller made no one-dir form in $ONEDIR"
    install -m 0644 "$ROOT/agent.toml.example" "$ONEDIR/agent.toml.example"
    install -D -m 0644 "$ROOT/packaging/systemd/logspool.service" "$ONEDIR/systemd/logspool.service"
    mkdir -p "$ONEDIR/logrotate"
    install -m 0644 "$ROOT"/packaging/logrotate/* "$ONEDIR/logrotate/"
    rm -f "$DIST"/logspool-*-linux-*.tar.gz "$DIST"/logspool-*-linux-*.tar.gz.sha256
    tar -C "$ONEDIR" --sort=name --owner=0 --group=0 --numeric-owner \
        --transform "s,^\\.,logspool-$version," -czf "$TARBALL" .
    (cd "$DIST" && sha256sum "$(basename "$TARBALL")" > "$(basename "$TARBALL").sha256")
    step_end "tarball"
fi
[ -x "$BIN" ] || die "no $BIN"
[ -f "$TARBALL" ] || die "no $TARBALL"

# ---------------------------------------------------------------- optional: staticx
# STATICX=1 also makes dist/logspool-static, with its own glibc and loader inside: it runs
# on any x86_64 Linux, whatever its glibc. Needs patchelf (apt-get install patchelf) and a
# Python whose extension modules carry no RUNPATH (a distro python3: not pyenv's, see
# staticx#188). The smoke tests then run against the static binary.
if [ "${STATICX:-0}" = 1 ]; then
    STATIC=$DIST/logspool-static
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        command -v patchelf >/dev/null || die "STATICX=1 needs patchelf (Debian/Ubuntu: apt-get install patchelf)"
        say "staticx $BIN $STATIC"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${STATICX_REQ:-staticx==0.14.2}" \
            2> >(grep -v "^WARNING: Location '" >&2)
        rm -f "$STATIC"
        "$VENV/bin/staticx" "$BIN" "$STATIC" >"$BUILD/staticx.log" 2>&1 \
            || { tail -n 20 "$BUILD/staticx.log" >&2; die "staticx failed"; }
    fi
    [ -x "$STATIC" ] || die "no $STATIC"
    BIN=$STATIC
fi

# ---------------------------------------------------------------- smoke tests
PY=$VENV/bin/python   # only to check outputs; the binary never uses it
rm -rf "$SMOKE"
mkdir -p "$SMOKE"
passed=0
failed=0
FORM=""   # the form under test, named in every ok/FAIL line
ok()   { passed=$((passed + 1)); printf '  ok    %s%s\n' "${FORM:+[$FORM] }" "$*"; }
fail() { failed=$((failed + 1)); printf '  FAIL  %s%s\n' "${FORM:+[$FORM] }" "$*"; }
# run NAME ARGS...: the binary with a time limit; stdout/stderr in $SMOKE/NAME.out/.err, exit code in $rc.
run() {
    local name=$1; shift
    rc=0
    timeout "$T" "$BIN" "$@" >"$SMOKE/$name.out" 2>"$SMOKE/$name.err" || rc=$?
    if [ "$rc" = 124 ]; then
        echo "    (timed out after ${T}s)"
    fi
}
show() { sed 's/^/    | /' "$@" | tail -n 20; }
now_ns() { date +%s%N; }
lines() { if [ -f "$1" ]; then wc -l < "$1" | tr -d ' '; else echo 0; fi; }
# same_records A B: the same set of NDJSON lines (order aside), byte for byte.
same_records() { cmp -s <(sort "$1") <(sort "$2"); }
declare -A STARTUP PREROTATE_MS

# smoke_tests: every check below against $BIN, the form $FORM, files in $SMOKE.
smoke_tests() {
say "smoke tests of $FORM: $BIN (files in $SMOKE)"
mkdir -p "$SMOKE"

# -- start-up time, first, while nothing else has run the binary since the build.
#    Wall time depends on the machine's load; CPU time (user+sys, the bootloader's and
#    Python's) much less.
STARTUP[$FORM]=$("$PY" - "$BIN" <<'EOF'
import resource, statistics, subprocess, sys, time
def once():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.argv[1], "--version"], stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000
first = once()
rest = [once() for _ in range(5)]
walls = [w for w, _ in rest]
print(f"first run {first[0]:.0f} ms; then median {statistics.median(walls):.0f} ms wall "
      f"(min {min(walls):.0f}), {statistics.median(c for _, c in rest):.0f} ms CPU")
EOF
) 2>/dev/null || STARTUP[$FORM]="(--version failed)"

# 1. --version says the version in pyproject.toml
run version --version
if [ "$rc" = 0 ] && [ "$(cat "$SMOKE/version.out")" = "logspool $version" ]; then
    ok "--version: logspool $version"
else
    fail "--version: exit $rc, said '$(cat "$SMOKE/version.out" "$SMOKE/version.err")', want 'logspool $version'"
fi

# 2. check-config accepts the shipped example (pydantic validation, frozen)
run check-config check-config "$ROOT/agent.toml.example"
if [ "$rc" = 0 ] && [[ "$(head -n 1 "$SMOKE/check-config.out")" == *": OK" ]]; then
    ok "check-config agent.toml.example"
else
    fail "check-config agent.toml.example: exit $rc"; show "$SMOKE/check-config.out" "$SMOKE/check-config.err"
fi

# 3. parse the example log: 11 JSON records with the envelope keys, ids unique
run parse parse "$EXAMPLE_LOG" --format lines --source transfers
if [ "$rc" = 0 ] && "$PY" - "$SMOKE/parse.out" "$EXAMPLE_RECORDS" <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1], "rb")]
keys = {"id", "source", "format", "time", "host", "cluster", "type", "data"}
assert len(records) == int(sys.argv[2]), f"{len(records)} records"
assert all(set(r) == keys for r in records), "envelope keys"
assert len({r["id"] for r in records}) == len(records), "ids not unique"
EOF
then
    ok "parse examples/gridftp-transfer.log --format lines: $EXAMPLE_RECORDS records"
else
    fail "parse examples/gridftp-transfer.log: exit $rc, $(lines "$SMOKE/parse.out") lines"; show "$SMOKE/parse.err"
fi

# 4. run --once on a copy of the example config: spool (apsw) -> drain (forked) -> file sink
W=$SMOKE/run
mkdir -p "$W/examples"
cp "$ROOT/agent.toml.example" "$W/agent.toml"
cp "$EXAMPLE_LOG" "$W/examples/"
run run-once run --once --config "$W/agent.toml"
if [ "$rc" = 0 ] && [ "$(lines "$W/logspool-out.ndjson")" = "$EXAMPLE_RECORDS" ] \
        && same_records "$W/logspool-out.ndjson" "$SMOKE/parse.out"; then
    ok "run --once: $EXAMPLE_RECORDS records in the file sink, the same bytes as parse"
else
    fail "run --once: exit $rc, $(lines "$W/logspool-out.ndjson") records in the file sink"; show "$SMOKE/run-once.err"
fi

# 5. a second run --once resumes at the checkpoint: nothing read or sent twice
run run-again run --once --config "$W/agent.toml"
if [ "$rc" = 0 ] && [ "$(lines "$W/logspool-out.ndjson")" = "$EXAMPLE_RECORDS" ]; then
    ok "run --once again: still $EXAMPLE_RECORDS records (resumed at the checkpoint)"
else
    fail "run --once again: exit $rc, $(lines "$W/logspool-out.ndjson") records"; show "$SMOKE/run-again.err"
fi

# 6. prerotate (the logrotate hook) spools a new line; the next run delivers it
echo "DATE=20190731080000.000000 HOST=dtn11.nersc.gov PROG=globus-gridftp-server NL.EVNT=FTP_INFO smoke-test=1" \
    >> "$W/examples/gridftp-transfer.log"
t0=$(now_ns)
run prerotate prerotate "$W/examples/gridftp-transfer.log" --config "$W/agent.toml"
t1=$(now_ns)
prerotate_ms=$(( (t1 - t0) / 1000000 ))
PREROTATE_MS[$FORM]=$prerotate_ms
run run-after-prerotate run --once --config "$W/agent.toml"
if [ "$rc" = 0 ] && grep -q 'spooled 1 records' "$SMOKE/prerotate.err" \
        && [ "$(lines "$W/logspool-out.ndjson")" = $((EXAMPLE_RECORDS + 1)) ]; then
    ok "prerotate: spooled the 1 new line (${prerotate_ms} ms), run --once delivered it"
else
    fail "prerotate: exit $rc, $(lines "$W/logspool-out.ndjson") records"; show "$SMOKE/prerotate.err" "$SMOKE/run-after-prerotate.err"
fi

# 7. the http sink (httpx -> httpcore -> h11, certifi's CA bundle) against a local receiver
H=$SMOKE/http
mkdir -p "$H/examples"
cp "$EXAMPLE_LOG" "$H/examples/"
cat > "$H/receiver.py" <<'EOF'
import http.server, sys
out = open(sys.argv[1], "ab")
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        out.write(body if body.endswith(b"\n") else body + b"\n")
        out.flush()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
EOF
: > "$H/port"
"$PY" "$H/receiver.py" "$H/received.ndjson" > "$H/port" &
receiver=$!
for _ in $(seq 100); do [ -s "$H/port" ] && break; sleep 0.05; done
cat > "$H/agent.toml" <<EOF
[agent]
spool = "spool.db"

[[sources]]
name = "transfers"
type = "file"
paths = ["examples/gridftp-transfer.log*"]
format = "lines"
sinks = ["archive"]

[[sinks]]
name = "archive"
type = "http"
url = "http://127.0.0.1:$(cat "$H/port")/ingest"
encoding = "ndjson"
retry = { initial = "250ms", max = "1s" }
EOF
run run-http run --once --config "$H/agent.toml"
kill "$receiver" 2>/dev/null || true
wait "$receiver" 2>/dev/null || true
if [ "$rc" = 0 ] && [ "$(lines "$H/received.ndjson")" = "$EXAMPLE_RECORDS" ] \
        && same_records "$H/received.ndjson" "$SMOKE/parse.out"; then
    ok "run --once to an http sink: $EXAMPLE_RECORDS records received, the same bytes as parse"
else
    fail "run --once to an http sink: exit $rc, $(lines "$H/received.ndjson") records received"; show "$SMOKE/run-http.err"
fi

# 8. the daemon under systemd's signals, unpacking into TMPDIR (as logspool.service sets it):
#    SIGHUP to the bootloader only (ExecReload=kill -HUP $MAINPID) reaches Python and reloads;
#    SIGTERM to the whole process group (KillMode=control-group) exits 0 and cleans up.
D=$SMOKE/daemon
mkdir -p "$D/tmp"
wait_for() {  # wait_for PATTERN FILE: up to $T seconds
    local i
    for ((i = 0; i < T * 10; i++)); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
TMPDIR=$D/tmp setsid "$BIN" run --config "$W/agent.toml" >"$SMOKE/daemon.out" 2>"$SMOKE/daemon.err" &
daemon=$!
daemon_ok=1
why=""
if ! wait_for 'Started\.' "$SMOKE/daemon.err"; then daemon_ok=0; why="never started"; fi
pgid=$(ps -o pgid= -p "$daemon" | tr -d ' ' || true)
pgid=${pgid:-$daemon}
procs=$(pgrep -g "$pgid" | wc -l || true)
unpacked=$(find "$D/tmp" -maxdepth 1 -name '_MEI*' | wc -l)
want_unpacked=1   # the one-file form unpacks into TMPDIR; the one-dir form unpacks nothing
[ "$FORM" = one-dir ] && want_unpacked=0
if [ "$daemon_ok" = 1 ] && [ "$unpacked" != "$want_unpacked" ]; then daemon_ok=0; why="$unpacked _MEI dirs in TMPDIR, want $want_unpacked"; fi
if [ "$daemon_ok" = 1 ]; then
    if [ "${STATICX:-0}" = 1 ] && [ "$FORM" = one-file ]; then
        # staticx's own bootloader dies of SIGHUP (staticx 0.14.2): HUP its child, the
        # PyInstaller bootloader, as logspool.service's staticx drop-in does.
        pkill -HUP -P "$daemon"
    else
        kill -HUP "$daemon"
    fi
    wait_for 'Config reloaded\.' "$SMOKE/daemon.err" || { daemon_ok=0; why="SIGHUP to the bootloader did not reload"; }
fi
if [ "$pgid" = "$daemon" ]; then kill -TERM -- "-$pgid" 2>/dev/null || true; else kill -TERM "$daemon" 2>/dev/null || true; fi
daemon_rc=0
for ((i = 0; i < T * 10; i++)); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon" 2>/dev/null; then
    kill -KILL -- "-$pgid" 2>/dev/null || kill -KILL "$daemon" 2>/dev/null || true
    daemon_ok=0; why="${why:-did not exit on SIGTERM within ${T}s}"
fi
wait "$daemon" || daemon_rc=$?
left=$(pgrep -g "$pgid" 2>/dev/null | wc -l || true)
if [ "$daemon_ok" = 1 ] && [ "$daemon_rc" != 0 ]; then daemon_ok=0; why="exit $daemon_rc after SIGTERM"; fi
if [ "$daemon_ok" = 1 ] && [ "$left" != 0 ]; then daemon_ok=0; why="$left processes left after SIGTERM"; fi
if [ "$daemon_ok" = 1 ] && [ -n "$(find "$D/tmp" -maxdepth 1 -name '_MEI*')" ]; then daemon_ok=0; why="_MEI dir left in TMPDIR"; fi
if [ "$daemon_ok" = 1 ]; then
    if [ "$FORM" = one-dir ]; then
        ok "daemon: $procs processes (agent, drain), nothing unpacked, SIGHUP reloads, SIGTERM to the group exits 0"
    else
        ok "daemon: $procs processes (bootloader(s), agent, drain), unpacked in \$TMPDIR, SIGHUP reloads, SIGTERM to the group exits 0 and cleans up"
    fi
else
    fail "daemon: $why"; show "$SMOKE/daemon.err"
fi

# 9. packaging/logrotate/gridftp-transfer (copytruncate + the prerotate hook), run by the real
#    logrotate with its paths pointed here
LOGROTATE=$(command -v logrotate || echo /usr/sbin/logrotate)
if [ -x "$LOGROTATE" ]; then
    R=$SMOKE/logrotate
    mkdir -p "$R/log" "$R/tmp"
    cp "$EXAMPLE_LOG" "$R/log/gridftp-transfer.log"
    cat > "$R/agent.toml" <<EOF
[agent]
spool = "spool.db"

[[sources]]
name = "transfers"
type = "file"
paths = ["log/gridftp-transfer.log*"]
format = "lines"
sinks = ["local"]

[[sinks]]
name = "local"
type = "file"
path = "out.ndjson"
EOF
    run lr-first run --once --config "$R/agent.toml"   # the agent has read the 11 lines ...
    echo "DATE=20190731090000.000000 HOST=dtn11.nersc.gov PROG=globus-gridftp-server NL.EVNT=FTP_INFO unread=1" \
        >> "$R/log/gridftp-transfer.log"                # ... but not this one when logrotate runs
    sed -e "s#/var/log/#$R/log/#g" -e "s#/var/lib/logspool/tmp#$R/tmp#g" \
              -e "s#/usr/local/bin/logspool#$BIN#g" -e "s#/etc/logspool/agent.toml#$R/agent.toml#g" \
        "$ROOT/packaging/logrotate/gridftp-transfer" > "$R/logrotate.conf"
    lr_rc=0
    "$LOGROTATE" -f -s "$R/logrotate.state" "$R/logrotate.conf" >"$SMOKE/logrotate.out" 2>&1 || lr_rc=$?
    run lr-after run --once --config "$R/agent.toml"
    if [ "$lr_rc" = 0 ] && [ -f "$R/log/gridftp-transfer.log.1" ] && [ ! -s "$R/log/gridftp-transfer.log" ] \
            && [ "$rc" = 0 ] && [ "$(lines "$R/out.ndjson")" = $((EXAMPLE_RECORDS + 1)) ]; then
        ok "logrotate/gridftp-transfer (copytruncate + prerotate hook): rotated, $((EXAMPLE_RECORDS + 1)) records delivered once"
    else
        fail "logrotate/gridftp-transfer: logrotate exit $lr_rc, run exit $rc, $(lines "$R/out.ndjson") records"
        show "$SMOKE/logrotate.out" "$SMOKE/lr-after.err"
    fi
else
    echo "  skip  [$FORM] logrotate/gridftp-transfer (no logrotate here)"
fi

return 0
}

SMOKE_ROOT=$SMOKE

# -- the one-file form (or staticx's wrapping of it)
FORM=one-file
ONEFILE_BIN=$BIN
SMOKE=$SMOKE_ROOT/one-file
step_begin
smoke_tests
step_end "smoke tests, one-file"
if [ "$PATCHED_BOOTLOADER" = 1 ] && [ "${STATICX:-0}" != 1 ]; then
    # What makes it safe on a noexec /tmp is the patched bootloader: make sure this binary has it.
    # (tests/e2e/test_frozen_noexec.py runs it on a real noexec tmpfs.)
    if grep -qa 'no directory to unpack the one-file binary into' "$BIN"; then
        ok "bootloader: built with packaging/bootloader/noexec-tmpdir.patch"
    else
        fail "bootloader: $BIN has PyInstaller's stock bootloader, not the patched one (PATCHED_BOOTLOADER=1)"
    fi
fi

# -- the one-dir form, as a site installs it: the tarball unpacked under opt/logspool and
#    started through the symlink usr/local/bin/logspool -> opt/logspool/logspool
FORM=one-dir
SMOKE=$SMOKE_ROOT/one-dir
SITE=$SMOKE_ROOT/site
mkdir -p "$SMOKE" "$SITE/opt/logspool" "$SITE/usr/local/bin"
tops=$(tar -tzf "$TARBALL" | cut -d/ -f1 | sort -u | tr '\n' ' ')
tar -xzf "$TARBALL" -C "$SITE/opt/logspool" --strip-components=1
missing_files=""
for f in logspool _internal agent.toml.example systemd/logspool.service logrotate/README.md \
        logrotate/gridftp-transfer logrotate/moduleusage logrotate/moduleusage-create; do
    [ -e "$SITE/opt/logspool/$f" ] || missing_files="$missing_files $f"
done
if [ "$tops" = "logspool-$version " ] && [ -z "$missing_files" ] && [ -x "$SITE/opt/logspool/logspool" ]; then
    ok "tarball: one top directory logspool-$version/ with logspool, _internal/, agent.toml.example, systemd/, logrotate/"
else
    fail "tarball: top entries '$tops', missing:${missing_files:- none}"
fi
ln -sfn "$SITE/opt/logspool/logspool" "$SITE/usr/local/bin/logspool"
BIN=$SITE/usr/local/bin/logspool
step_begin
smoke_tests
step_end "smoke tests, one-dir"
BIN=$ONEFILE_BIN

# ---------------------------------------------------------------- figures
FORM=""
# The highest GLIBC_x.y symbol version anything in either form needs: the bootloaders plus
# libpython and the shared libraries and extension modules PyInstaller collected (its TOCs
# list them). A node whose glibc is older cannot run the binary. (staticx's binary carries its
# own glibc; the one-dir form and dist/logspool still need the node's.)
static_note=""
if [ "${STATICX:-0}" = 1 ]; then
    static_note="$ONEFILE_BIN needs no system glibc: staticx put its own libc and loader inside (ldd: $(ldd "$ONEFILE_BIN" 2>&1 | tr -d '\t' || true))"
fi
glibc_needed=$("$PY" - "$BUILD/work/logspool" "$DIST/logspool" "$ONEDIR/logspool" <<'EOF' 2>/dev/null || echo "(could not tell)"
import glob, os, re, subprocess, sys
paths = set(sys.argv[2:])
for toc in glob.glob(os.path.join(sys.argv[1], "*.toc")):
    for m in re.finditer(r"'(/[^']+\.so[^']*)'", open(toc).read()):
        if os.path.exists(m.group(1)):
            paths.add(m.group(1))
best, who = (0,), []
for p in sorted(paths):
    out = subprocess.run(["objdump", "-T", p], capture_output=True, text=True).stdout
    for v in set(re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out)):
        t = tuple(int(x) for x in v.split("."))
        if t > best:
            best, who = t, []
        if t == best:
            who.append(os.path.basename(p))
if who:
    print(f"GLIBC {'.'.join(map(str, best))}, for {', '.join(sorted(set(who)))} ({len(paths)} files checked)")
else:
    print(f"(no GLIBC symbol versions found in {len(paths)} files)")
EOF
)
build_glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo "glibc ?")
# A binary that needs a newer glibc than the oldest head node's fails there at start
# ("GLIBC_2.34 not found"): refuse to call it good. GLIBC_MAX is that node's glibc
# (2.28 = RHEL/Rocky 8; 2.34 = RHEL/Rocky 9).
need=$(printf '%s\n' "$glibc_needed" | sed -n 's/^GLIBC \([0-9.]*\),.*/\1/p')
if [ "${STATICX:-0}" = 1 ]; then
    # What STATICX=1 is for: shipping dist/logspool-static to older nodes than this host.
    echo "  note  glibc: the one-dir tarball and dist/logspool need GLIBC ${need:-?} (not checked against GLIBC_MAX with STATICX=1)"
else
    if [ -z "$need" ]; then
        fail "glibc: could not tell what the binary needs ($glibc_needed)"
    elif [ "$(printf '%s\n%s\n' "$need" "$GLIBC_MAX" | sort -V | tail -n 1)" != "$GLIBC_MAX" ]; then
        fail "glibc: the binary needs GLIBC $need, newer than GLIBC_MAX=$GLIBC_MAX: build on a host with glibc $GLIBC_MAX or older (packaging/README.md), or STATICX=1; GLIBC_MAX=$need accepts it"
    else
        ok "glibc: needs GLIBC $need, no newer than GLIBC_MAX=$GLIBC_MAX"
    fi
fi

mib() { awk "BEGIN{printf \"%.1f\", $1/1048576}"; }
onefile_bytes=$(stat -c %s "$ONEFILE_BIN")
onedir_bytes=$(du -sb "$SITE/opt/logspool" | cut -f1)
tarball_bytes=$(stat -c %s "$TARBALL")
echo
say "figures"
if [ ${#STEP_NAMES[@]} -gt 0 ]; then   # the smoke tests are steps too: CI pays for them
    total=0
    for i in "${!STEP_NAMES[@]}"; do
        printf '  build        %-26s %6s s\n' "${STEP_NAMES[$i]}" "${STEP_SECS[$i]}"
        total=$(awk "BEGIN{print $total + ${STEP_SECS[$i]}}")
    done
    printf '  build        %-26s %6s s\n' "total" "$total"
fi
printf '  one-file     %s  %s bytes (%s MiB)\n' "$ONEFILE_BIN" "$onefile_bytes" "$(mib "$onefile_bytes")"
printf '  one-dir      %s bytes unpacked (%s MiB); tarball %s bytes (%s MiB)\n' \
    "$onedir_bytes" "$(mib "$onedir_bytes")" "$tarball_bytes" "$(mib "$tarball_bytes")"
printf '  tarball      %s\n' "$TARBALL"
for form in one-file one-dir; do
    printf '  start-up     %-8s --version: %s\n' "$form" "${STARTUP[$form]:-(not run)}"
done
for form in one-file one-dir; do
    printf '  prerotate    %-8s %s ms for the one-line hook above\n' "$form" "${PREROTATE_MS[$form]:-?}"
done
printf '  glibc        built on %s; needs %s\n' "$build_glibc" "$glibc_needed"
[ -z "$static_note" ] || printf '  glibc        %s\n' "$static_note"
printf '  (benchmarks/coldstart.py measures start-up properly: interleaved runs, more of them)\n'
echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
