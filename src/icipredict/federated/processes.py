"""Flower's own deployment engine as processes: SuperLink, SuperNodes and ``flwr run``.

Every process starts in its own process group (``start_new_session``) and :func:`stop_all` ends
the whole group (the SuperLink's SuperExec and ServerApp, a SuperNode's ClientApps). Runtime
dependency installation stays off: nothing is fetched at run time.

Flower is located in ``ICIPREDICT_FLOWER_BIN`` (a folder with ``flower-superlink``,
``flower-supernode``, ``flwr``), else beside this Python, else on ``PATH``. (``flwr`` 1.42
pins protobuf < 7, typer < 0.21 and rich < 15, older than this project's environment, so it
lives in its own environment: ``make flower``.)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from icipredict.federated.protocol import FederationError

APP_TOML = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "icipredict-federated"
version = "1.0.0"
description = "icipredict federated training (the code is the installed icipredict package)"
license = "BSD-3-Clause"
dependencies = []

[tool.flwr.app]
publisher = "icipredict"

[tool.flwr.app.components]
serverapp = "icipredict.federated.flower_apps:server_app"
clientapp = "icipredict.federated.flower_apps:client_app"

[tool.flwr.app.config]
experiment = ""
out = ""
min-count = 5
on-dropout = "fail"
quorum = 2
nodes = 6
round-timeout = 300.0
"""


def flower_bin() -> Path:
    """The folder holding Flower's executables (see module doc)."""
    env = os.environ.get("ICIPREDICT_FLOWER_BIN")
    candidates = [Path(env)] if env else []
    candidates.append(Path(sys.executable).parent)
    candidates.append(Path(__file__).resolve().parents[3] / ".venv-flower" / "bin")  # make flower
    found = shutil.which("flower-superlink")
    if found:
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "flower-superlink").exists() and (c / "flwr").exists():
            return c
    raise FederationError("Flower (flwr 1.42) was not found: run `make flower` and set "
                          "ICIPREDICT_FLOWER_BIN=.venv-flower/bin (see README, Federated "
                          "training)")


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until something listens on ``port`` (or fail when ``proc`` exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            cmd = proc.args
            program = cmd if isinstance(cmd, str | bytes | os.PathLike) else cmd[0]
            raise FederationError(f"{os.fsdecode(program)} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise FederationError(f"nothing listens on port {port} after {timeout:.0f} s")


def _proc_stats() -> list[tuple[int, str, int, int]]:
    """(pid, state, ppid, pgid) of every process (from /proc; empty where there is none)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out.append((int(stat.parent.name), fields[0], int(fields[1]), int(fields[2])))
    return out


def live_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` still running (zombies left to a PID 1 that does not reap
    them, as in some containers, do not count)."""
    return [pid for pid, state, _, group in _proc_stats() if group == pgid and state != "Z"]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for child, _, parent, _ in _proc_stats():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """End process groups started here and any descendant that left them (Flower starts its
    SuperExec in a session of its own): SIGTERM, then SIGKILL after ``timeout``. Every group
    gets its SIGTERM first, so their shutdowns overlap (a SuperNode takes about a second to
    sign off)."""
    strays = [p for proc in procs for p in descendants(proc.pid)
              if _pgid(p) not in (None, proc.pid)]
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        _await_group(proc, max(deadline - time.monotonic(), 0.0))
    for pid in strays:
        try:
            os.killpg(pid, signal.SIGKILL) if _pgid(pid) == pid else os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> bool:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return False
    return True


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _await_group(proc: subprocess.Popen, timeout: float) -> None:
    """Wait for a group sent SIGTERM to end; SIGKILL it after ``timeout``."""
    for sig, wait in ((None, timeout), (signal.SIGKILL, 5.0)):
        if sig is not None and not _signal_group(proc, sig):
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        if not live_members(proc.pid):  # the group may outlive its leader
            return


@dataclass(frozen=True)
class TLSFiles:
    """A SuperLink's TLS files (PEM): the CA certificate, its server certificate and key."""

    ca: Path
    cert: Path
    key: Path


@dataclass
class Flower:
    """Flower processes of one federation on this machine (a context manager stopping all)."""

    workdir: Path
    bin: Path = field(default_factory=flower_bin)
    procs: list[subprocess.Popen] = field(default_factory=list)
    links: set[int] = field(default_factory=set)  # PIDs of the SuperLinks among procs

    def env(self) -> dict[str, str]:
        """Environment of every Flower process (its own Flower home, fast task polling, no
        telemetry: a centre's processes send nothing to Flower's telemetry server, and a
        ClientApp process does not wait up to 4 s at exit for that request)."""
        env = dict(os.environ)
        env["FLWR_TELEMETRY_ENABLED"] = "0"
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["FLWR_HOME"] = str(self.workdir / "flwr-home")
        env["FLWR_SUPEREXEC_TASK_POLL_INTERVAL"] = "0.1"
        return env

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen([str(self.bin / args[0]), *args[1:]], stdout=log,
                                stderr=subprocess.STDOUT, env=self.env(),
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def superlink(self, port: int, *, tls: TLSFiles | None = None,
                  wait: bool = True) -> subprocess.Popen:
        """Start the SuperLink on ``127.0.0.1:port``: with TLS when ``tls`` names its CA
        certificate, server certificate and key, else insecure (localhost only); with
        ``wait``, return once it listens (SuperNodes started meanwhile retry until then)."""
        security = (["--ssl-ca-certfile", str(tls.ca), "--ssl-certfile", str(tls.cert),
                     "--ssl-keyfile", str(tls.key)] if tls else ["--insecure"])
        proc = self._start("superlink", [
            "flower-superlink", *security, "--disable-runtime-dependency-installation",
            "--host", "127.0.0.1", "--port", str(port)])
        self.links.add(proc.pid)
        if wait:
            wait_for_port(port, proc)
        return proc

    def log(self, name: str) -> str:
        """The log of the process started as ``name`` (``superlink``, ``supernode-<name>``),
        colour codes removed."""
        path = self.workdir / f"{name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    def failure(self, name: str) -> str:
        """Why the process ``name`` stopped: its log's error lines (Flower's exit code and,
        for TLS, the certificate error), or its last line."""
        lines = [ln.strip() for ln in self.log(name).splitlines() if ln.strip()]
        wanted = [ln for ln in lines if ln.startswith(("ERROR", "[SSL", "Failed", "The Super"))]
        return " ".join(wanted or lines[-1:])

    def supernode(self, name: str, superlink: str, config: dict[str, object], *,
                  root_certificates: Path | None = None) -> subprocess.Popen:
        """Start a SuperNode with ``config`` as its node config (TLS when
        ``root_certificates`` names the SuperLink's CA certificate, else ``--insecure``)."""
        pairs = " ".join(f"{k}={_toml(v)}" for k, v in config.items())
        tls = (["--root-certificates", str(root_certificates)] if root_certificates
               else ["--insecure"])
        # Flower's SuperNode, its 3 s idle poll shortened (icipredict.federated.supernode),
        # when Flower's environment has its own Python (make flower); else the stock command
        launcher = (["python", "-m", "icipredict.federated.supernode"]
                    if (self.bin / "python").exists() else ["flower-supernode"])
        return self._start(f"supernode-{name}", [
            *launcher, *tls, "--superlink", superlink,
            "--port", str(free_port()), "--node-config", pairs])

    def run(self, superlink: str, run_config: dict[str, object], timeout: float = 1800, *,
            root_certificates: Path | None = None) -> None:
        """``flwr run`` the icipredict app against ``superlink`` and wait for it to finish
        (TLS verified with ``root_certificates`` when given, else insecure)."""
        home = self.workdir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        tls = (f"root-certificates = {_toml(Path(root_certificates).resolve())}\n"
               if root_certificates else "insecure = true\n")
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "{superlink}"\n'
            + tls, encoding="utf-8")
        app = self.workdir / "app"
        app.mkdir(exist_ok=True)
        (app / "pyproject.toml").write_text(APP_TOML, encoding="utf-8")
        pairs = " ".join(f"{k}={_toml(v)}" for k, v in run_config.items())
        with open(self.workdir / "flwr-run.log", "wb") as log:
            done = subprocess.run([str(self.bin / "flwr"), "run", str(app), "local",
                                   "--run-config", pairs, "--stream"], env=self.env(),
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  start_new_session=True, check=False)
        if done.returncode:
            raise FederationError(f"flwr run failed ({done.returncode}): see "
                                  f"{self.workdir / 'flwr-run.log'}")

    def close(self) -> None:
        """Stop every process group started here (latest first)."""
        # the SuperNodes together, then the SuperLink they sign off from
        stop_all([p for p in reversed(self.procs) if p.pid not in self.links])
        stop_all([p for p in self.procs if p.pid in self.links])
        self.procs.clear()

    def __enter__(self) -> Flower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
