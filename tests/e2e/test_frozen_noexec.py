"""The frozen binary starts with no executable temporary directory (issue 7).

Hardened head nodes mount /tmp noexec. The one-file binary unpacks itself at every start, and
stock PyInstaller would unpack onto a noexec TMPDIR and then fail in dlopen(); ours carries a
patched bootloader (packaging/bootloader/) that skips noexec candidates and says what it tried.
The one-dir form unpacks nothing. Both are run here on a real `tmpfs -o noexec` mount, with
TMPDIR, TEMP and TMP pointing at it: `--version`, `prerotate FILE` on a small file and the
`run --once` that delivers what it spooled. The mount is proven noexec first (a copied
executable fails there with EACCES), so a pass cannot come from a mount that allows exec.

Needs root (mount, unshare) and the frozen binaries: $LOGSPOOL (the one-file binary) and
$LOGSPOOL_ONEDIR (the one-dir executable; by default dist/logspool-onedir/logspool when $LOGSPOOL
is dist/logspool, as packaging/build.sh lays them out). Without them
the tests skip with the reason; with LOGSPOOL_REQUIRE_FROZEN=1 (.ci/run's second pass) every
such skip is a failure instead, so CI cannot go green without having run them.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator, NoReturn

import pytest

from tests.e2e.conftest import write_config

pytestmark = pytest.mark.e2e

#: PyInstaller's CArchive cookie magic, at the end of every executable it builds.
PYINSTALLER_MAGIC = b"MEI\x0c\x0b\x0a\x0b\x0e"
TIMEOUT = 120
LINES = [f"2026-11-22T10:00:0{i}Z host=n1 SEQ={i:06d} msg=noexec-test" for i in range(3)]


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when LOGSPOOL_REQUIRE_FROZEN=1: CI must not pass by skipping these."""
    if os.environ.get("LOGSPOOL_REQUIRE_FROZEN") == "1":
        pytest.fail(f"LOGSPOOL_REQUIRE_FROZEN=1, but {reason}", pytrace=False)
    pytest.skip(reason)


def frozen_binary(variable: str) -> Path:
    """The PyInstaller-built executable named by $variable (skip/fail if there is none).

    $LOGSPOOL_ONEDIR defaults to build.sh's layout: logspool-onedir/logspool beside $LOGSPOOL.
    """
    value = os.environ.get(variable)
    if not value and variable == "LOGSPOOL_ONEDIR" and os.environ.get("LOGSPOOL"):
        beside = Path(os.environ["LOGSPOOL"]).parent / "logspool-onedir" / "logspool"
        value = str(beside) if beside.exists() else None
    if not value:
        unavailable(f"${variable} is not set (a frozen logspool binary: packaging/build.sh)")
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        unavailable(f"${variable}={value} is not an executable file")
    data = path.read_bytes()
    if not (data.startswith(b"\x7fELF") and PYINSTALLER_MAGIC in data[-4096:]):
        unavailable(f"${variable}={value} is not a PyInstaller-frozen binary")
    return path


def is_onedir(binary: Path) -> bool:
    """A one-dir executable has its _internal/ beside it (wherever a symlink to it lives)."""
    return (binary.resolve().parent / "_internal").is_dir()


def mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},size=64m,mode=1777", "tmpfs", str(where)],
                   check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture(params=["one-file", "one-dir"])
def binary(request: pytest.FixtureRequest) -> Path:
    """Each form in turn: $LOGSPOOL must be the one-file binary, $LOGSPOOL_ONEDIR the one-dir one."""
    if request.param == "one-file":
        path = frozen_binary("LOGSPOOL")
        if is_onedir(path):
            unavailable(f"$LOGSPOOL={path} is the one-dir form; the one-file binary is dist/logspool")
    else:
        path = frozen_binary("LOGSPOOL_ONEDIR")
        if not is_onedir(path):
            unavailable(f"$LOGSPOOL_ONEDIR={path} has no _internal/ beside it: not the one-dir form")
    return path


@pytest.fixture
def noexec(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs mounted noexec (root only), unmounted afterwards."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        unavailable("mounting a noexec tmpfs needs root")
    where = tmp_path / "noexec"
    try:
        mount_tmpfs(where, "noexec,nosuid,nodev")
    except subprocess.CalledProcessError as e:
        unavailable(f"cannot mount a tmpfs here: {e.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def noexec_env(where: Path) -> dict[str, str]:
    """The environment with every temporary-directory variable pointing at `where`."""
    env = dict(os.environ)
    env.update(TMPDIR=str(where), TEMP=str(where), TMP=str(where))
    return env


def run(binary: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=TIMEOUT)


def small_site(root: Path) -> tuple[Path, Path, Path]:
    """A throwaway config (file source -> file sink, own spool) and a 3-line log: (config, log, out)."""
    root.mkdir(parents=True, exist_ok=True)
    log, out = root / "app.log", root / "out.ndjson"
    log.write_text("".join(line + "\n" for line in LINES))
    config = root / "agent.toml"
    write_config(config, {"spool": str(root / "spool.db")},
                 [{"name": "app", "type": "file", "paths": [f"{root}/app.log*"], "format": "lines", "sinks": ["local"]}],
                 [{"name": "local", "type": "file", "path": str(out)}])
    return config, log, out


def test_the_mount_really_is_noexec(noexec: Path) -> None:
    assert os.statvfs(noexec).f_flag & os.ST_NOEXEC
    true = noexec / "true"
    shutil.copy2(shutil.which("true") or "/bin/true", true)
    true.chmod(0o755)
    with pytest.raises(PermissionError) as caught:
        subprocess.run([str(true)], timeout=30)
    assert caught.value.errno == errno.EACCES


def test_version_prerotate_and_run_once_with_tmpdir_on_a_noexec_mount(
        binary: Path, noexec: Path, tmp_path: Path) -> None:
    assert os.statvfs(noexec).f_flag & os.ST_NOEXEC
    env = noexec_env(noexec)
    version = run(binary, "--version", env=env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("logspool "), version.stdout

    config, log, out = small_site(tmp_path / "site")
    hook = run(binary, "prerotate", str(log), "--config", str(config), env=env)
    assert hook.returncode == 0, hook.stderr
    assert f"spooled {len(LINES)} records" in hook.stderr, hook.stderr
    once = run(binary, "run", "--once", "--config", str(config), env=env)
    assert once.returncode == 0, once.stderr
    delivered = out.read_text().splitlines()
    assert len(delivered) == len(LINES) and all(f"SEQ={i:06d}" in "".join(delivered) for i in range(3))
    # Nothing was unpacked onto the noexec mount (the one-dir form unpacks nothing at all).
    assert list(noexec.iterdir()) == []


def in_a_namespace_with_every_stock_tmp_noexec(binary: Path, tmp_path: Path, env: dict[str, str],
                                               exec_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `binary --version` in a private mount namespace where /tmp, /var/tmp, /usr/tmp and
    /var/lib/logspool/tmp (those that exist) are bind-remounted noexec, with `exec_dir` (under
    tmp_path, so noexec too) replaced by a fresh exec-able tmpfs. The host's mounts are untouched.

    The binary is run from a copy on its own exec-able tmpfs, as from a site's /usr/local/bin:
    the checkout (and so dist/) may itself lie under /tmp, which the namespace makes noexec. A
    one-dir binary is copied whole to opt/logspool/ and started through usr/local/bin/logspool,
    a symlink, as README.md installs it."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable("a private mount namespace needs root and unshare (util-linux)")
    made_noexec = ("/tmp", "/var/tmp", "/usr/tmp", "/var/lib/logspool/tmp", str(tmp_path))
    script = ["set -e"]
    for d in made_noexec:
        script.append(f'if [ -d "{d}" ]; then mount --rbind "{d}" "{d}"; '
                      f'mount -o remount,bind,noexec "{d}"; fi')
    if exec_dir is not None:
        exec_dir.mkdir(parents=True, exist_ok=True)
        script.append(f'mount -t tmpfs -o size=64m,mode=0700 tmpfs "{exec_dir}"')
    stage = tmp_path / "stage"
    stage.mkdir(parents=True, exist_ok=True)
    script.append(f'mount -t tmpfs -o size=256m,mode=0755 tmpfs "{stage}"')
    real = binary.resolve()
    if is_onedir(binary):
        script += [f'mkdir -p "{stage}/opt" "{stage}/usr/local/bin"',
                   f'cp -a "{real.parent}" "{stage}/opt/logspool"',
                   f'ln -s "{stage}/opt/logspool/{real.name}" "{stage}/usr/local/bin/logspool"']
        run_as = stage / "usr" / "local" / "bin" / "logspool"
    else:
        script.append(f'cp "{real}" "{stage}/logspool"')
        run_as = stage / "logspool"
    script.append(f'exec "{run_as}" --version')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)],
                          capture_output=True, text=True, env=env, timeout=TIMEOUT)


def test_one_file_falls_back_past_every_noexec_stock_candidate(noexec: Path, tmp_path: Path) -> None:
    """TMPDIR, /tmp, /var/tmp all noexec: stock PyInstaller fails; ours unpacks into $XDG_RUNTIME_DIR."""
    binary = frozen_binary("LOGSPOOL")
    if is_onedir(binary):
        unavailable(f"$LOGSPOOL={binary} is the one-dir form")
    xdg = tmp_path / "xdg"
    env = noexec_env(noexec) | {"XDG_RUNTIME_DIR": str(xdg), "HOME": str(tmp_path / "home")}
    r = in_a_namespace_with_every_stock_tmp_noexec(binary, tmp_path, env, exec_dir=xdg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("logspool "), r.stdout


def test_one_file_says_what_it_tried_when_no_candidate_is_left(noexec: Path, tmp_path: Path) -> None:
    binary = frozen_binary("LOGSPOOL")
    if is_onedir(binary):
        unavailable(f"$LOGSPOOL={binary} is the one-dir form")
    env = noexec_env(noexec) | {"HOME": str(tmp_path / "home")}
    env.pop("XDG_RUNTIME_DIR", None)
    r = in_a_namespace_with_every_stock_tmp_noexec(binary, tmp_path, env)
    assert r.returncode != 0, r.stdout
    first = r.stderr.splitlines()[0]
    assert first.startswith("logspool: no directory to unpack the one-file binary into"), r.stderr
    assert f"$TMPDIR={noexec} (noexec)" in first and "/tmp (noexec)" in first, first
    assert "set TMPDIR to a writable directory on a filesystem mounted without noexec" in first
    assert "one-dir tarball" in first
    assert "failed to map segment" not in r.stderr  # it stopped before unpacking anything


def test_one_dir_starts_through_a_symlink_with_every_stock_tmp_noexec(noexec: Path, tmp_path: Path) -> None:
    """The install README.md describes: /usr/local/bin/logspool -> /opt/logspool/logspool."""
    binary = frozen_binary("LOGSPOOL_ONEDIR")
    if not is_onedir(binary):
        unavailable(f"$LOGSPOOL_ONEDIR={binary} has no _internal/ beside it")
    env = noexec_env(noexec)
    env.pop("XDG_RUNTIME_DIR", None)
    r = in_a_namespace_with_every_stock_tmp_noexec(binary, tmp_path, env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("logspool "), r.stdout
