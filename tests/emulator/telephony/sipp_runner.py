"""SIPp for tests and benchmarks: free ports, one process per run, its call counters parsed."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import shutil
import signal
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "BUILT_IN",
    "SCENARIOS",
    "SIPP",
    "Account",
    "SippAgent",
    "SippError",
    "SippResult",
    "SippTimeout",
    "check_scenario",
    "credentials_of",
    "run_sipp",
    "write_injection",
]

SIPP: Final = shutil.which("sipp")
"""The SIPp executable, None where SIPp is not installed."""

SCENARIOS: Final = Path(__file__).with_name("sipp")
"""The lab's scenarios: register_auth.xml, uac_call.xml, uas_answer.xml..."""

BUILT_IN: Final = ("uac", "uas", "regexp", "branchc", "branchs")
"""The scenarios built into SIPp (-sn), which every function here also takes by name."""

ATTEMPTS: Final = 5
"""Launches tried with fresh ports when another process took one between choice and bind."""

# SIPp's own choice of ports does not suit parallel tests: without -p (or with -p 0) it takes
# the first free port from 5060 up, which the caller then has to guess, the media ports from
# 6000 up in two steps (audio, then video two above), which two SIPps starting together can
# fail, and a control port from 8888 up on every interface. So every port is chosen here, by
# binding port 0 and letting it go, and a lost race (exit status 254, "Address already in
# use") is a relaunch with new ones.
_LOST_RACE: Final = 254
# A fatal start-up error (a failed bind) says "errno = N", and warnings do not.
_FATAL: Final = re.compile(r"errno = \d+")
_SCREEN_COUNTER: Final = re.compile(r"^\s*(Successful call|Failed call)\s*\|[^|]*\|\s*(\d+)", re.M)
_STATS_HEADER: Final = "StartTime;"
_KILL_AFTER_S: Final = 5.0
_DEADLINE_MARGIN_S: Final = 30


class SippError(ValueError):
    """A SIPp run asked for wrongly, or a SIPp that could not start; the message says which."""


class SippTimeout(TimeoutError):
    """A SIPp run that outlived its time limit; it was stopped, `result` holds what it said."""

    def __init__(self, message: str, result: SippResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True, slots=True)
class SippResult:
    """How a SIPp run ended: its exit status, its call counters and everything it printed.

    `stats` is the last row of SIPp's statistics (-trace_stat) by column name, e.g.
    `stats["SuccessfulCall(C)"]`; `stderr` is what SIPp printed there besides the statistics.
    Exit status 0: every call succeeded; 1: some failed; 254: a port was taken; 255: an error.
    """

    returncode: int
    successful: int
    failed: int
    stdout: str
    stderr: str
    stats: dict[str, str]

    @property
    def ok(self) -> bool:
        """SIPp exited normally and no call failed."""
        return self.returncode == 0 and self.failed == 0

    def summary(self) -> str:
        """A few lines for an assertion message: the counters and SIPp's last complaints."""
        complaints = "\n".join(self.stderr.strip().splitlines()[-8:])
        counters = (
            f"SIPp exited with {self.returncode}: {self.successful} successful, "
            f"{self.failed} failed call(s)"
        )
        return f"{counters}\n{complaints}" if complaints else counters


@dataclass(frozen=True, slots=True)
class Account:
    """A line as the scenarios see it, one row of an injection file.

    In the scenarios: [field0] the digest user, [field1] the password, [field2] the number
    (the caller, or the address of record), [field3] the domain.
    """

    user: str
    password: str
    number: str
    domain: str

    def __post_init__(self) -> None:
        for name in ("user", "password", "number", "domain"):
            value: str = getattr(self, name)
            if not value or any(c in value for c in ";\r\n"):
                raise SippError(
                    f"the account's {name} {value!r} is empty or holds ';' or a line break, "
                    "which an injection file cannot carry"
                )

    def row(self) -> str:
        return f"{self.user};{self.password};{self.number};{self.domain}"


def write_injection(path: Path, accounts: Sequence[Account]) -> Path:
    """Write the injection file (-inf) of `accounts`, read in order, and return its path."""
    if not accounts:
        raise SippError(f"the injection file {path.name} needs at least one account")
    path.write_text("SEQUENTIAL\n" + "".join(account.row() + "\n" for account in accounts))
    return path


def credentials_of(inf: Path) -> tuple[str, str] | None:
    """The digest user and password (fields 0 and 1) of an injection file; None if none.

    SIPp 3.6.1 copies a keyword nested in `[authentication username=[field0]]` out of place,
    so the scenarios use a bare `[authentication]` and the credentials go on the command line
    (-au, -ap): one pair per run, hence an error for a file that holds several.
    """
    try:
        lines = inf.read_text().splitlines()
    except OSError as error:
        raise SippError(f"the injection file {inf} cannot be read: {error.strerror}") from error
    pairs = {
        (fields[0], fields[1])
        for line in lines[1:]
        if line.strip() and not line.startswith("#")
        if len(fields := line.split(";")) >= 2
    }
    if len(pairs) > 1:
        users = ", ".join(sorted(user for user, _ in pairs))
        raise SippError(
            f"the injection file {inf.name} holds {len(pairs)} different credentials "
            f"({users}); SIPp answers challenges as one user per run"
        )
    return next(iter(pairs), None)


@dataclass(frozen=True, slots=True)
class _Ports:
    sip: int
    media: int  # SIPp also binds media + 2, for video
    control: int


def _choose_ports(host: str, sip: int) -> _Ports:
    """Free UDP ports on `host`: SIP (unless given), a media pair two apart, control."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.ExitStack() as held:  # all held at once, so that they differ

        def bind(port: int) -> int:
            sock = held.enter_context(socket.socket(family, socket.SOCK_DGRAM))
            sock.bind((host, port))
            bound: int = sock.getsockname()[1]
            return bound

        sip = sip or bind(0)
        control = bind(0)
        for _ in range(100):
            media = bind(0)
            if media + 2 > 65535:
                continue
            with contextlib.suppress(OSError):
                bind(media + 2)
                return _Ports(sip, media, control)
    raise OSError(errno.EADDRINUSE, f"no two free UDP ports two apart on {host}")


def _scenario_arguments(scenario: Path | str) -> list[str]:
    if isinstance(scenario, str):
        if scenario not in BUILT_IN:
            raise SippError(
                f"{scenario!r} is not a scenario built into SIPp; give a path, or one of "
                + ", ".join(BUILT_IN)
            )
        return ["-sn", scenario]
    if not scenario.is_file():
        raise SippError(f"the scenario {scenario} does not exist")
    return ["-sf", str(scenario.resolve())]


def _injection(inf: Path | None, account: Account | None, workdir: Path) -> Path | None:
    if inf is not None and account is not None:
        raise SippError("give either an injection file or an account, not both")
    if account is not None:
        return write_injection(workdir / "account.csv", [account])
    return inf


@dataclass(frozen=True, slots=True)
class _Order:
    """What one SIPp process is asked to do."""

    scenario: Path | str
    target: str | None = None
    local_host: str = "127.0.0.1"
    calls: int | None = None  # None: until stopped
    rate: float = 1.0
    service: str | None = None
    inf: Path | None = None
    account: Account | None = None
    lifetime_s: float = 60
    extra: Sequence[str] = ()

    def command(self, ports: _Ports, inf: Path | None) -> list[str]:
        if SIPP is None:
            raise SippError("SIPp is not installed (no 'sipp' on the PATH)")
        command = [SIPP, *_scenario_arguments(self.scenario)]
        if self.target is not None:
            command.append(self.target)
        command += ["-i", self.local_host, "-p", str(ports.sip), "-mp", str(ports.media)]
        command += ["-ci", self.local_host, "-cp", str(ports.control)]
        command += ["-bind_local", "-nostdin"]
        # Statistics to stderr, after any start-up error: their first row means SIPp is up.
        command += ["-trace_stat", "-stf", "/dev/stderr"]
        # SIPp's own deadline, for the day the process that started it dies first.
        command += ["-timeout", f"{int(self.lifetime_s) + _DEADLINE_MARGIN_S}s"]
        if self.calls is not None:
            command += ["-m", str(self.calls)]
        command += ["-r", f"{self.rate:g}"]
        if self.service is not None:
            command += ["-s", self.service]
        if inf is not None:
            command += ["-inf", str(inf.resolve())]
            credentials = credentials_of(inf)
            if credentials is not None and "-au" not in self.extra:
                command += ["-au", credentials[0], "-ap", credentials[1]]
        return [*command, *self.extra]


class _SippProcess:
    """One SIPp process: its output read as it comes, the statistics split from stderr."""

    def __init__(
        self, process: asyncio.subprocess.Process, workdir: tempfile.TemporaryDirectory[str]
    ) -> None:
        self._process = process
        self._workdir = workdir
        self._stdout: list[bytes] = []
        self._stderr: list[str] = []
        self._header: list[str] | None = None
        self._last_row: list[str] | None = None
        self._up = asyncio.Event()
        self._failed_to_start = False
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = (
            asyncio.ensure_future(self._read_stdout(process.stdout)),
            asyncio.ensure_future(self._read_stderr(process.stderr)),
        )

    @classmethod
    async def launch(cls, order: _Order, sip_port: int = 0) -> _SippProcess:
        workdir = tempfile.TemporaryDirectory(prefix="sipp-")
        try:
            inf = _injection(order.inf, order.account, Path(workdir.name))
            command = order.command(_choose_ports(order.local_host, sip_port), inf)
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=workdir.name,  # where SIPp writes its logs
                limit=1 << 20,  # a line of SIPp's: a whole SIP message in a complaint
            )
        except BaseException:
            workdir.cleanup()
            raise
        return cls(process, workdir)

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._stdout.append(chunk)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while raw := await stream.readline():
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line.startswith(_STATS_HEADER):
                self._header = line.split(";")
            elif self._header is not None and line.count(";") == len(self._header) - 1:
                self._last_row = line.split(";")
                self._up.set()
            else:
                if not self._up.is_set() and _FATAL.search(line):
                    self._failed_to_start = True
                self._stderr.append(line)

    async def started(self, within_s: float) -> bool:
        """Wait until SIPp has bound its ports (True) or is on its way out (False)."""
        up = asyncio.ensure_future(self._up.wait())
        exited = asyncio.ensure_future(self._process.wait())
        try:
            await asyncio.wait({up, exited}, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
            exited.cancel()
        if not self._up.is_set() and self._process.returncode is None:
            try:
                await self.finish(0)  # stopped, not left behind
            except SippTimeout as silent:
                raise SippError(
                    f"SIPp did not start within {within_s:g} s. {silent.result.summary()}"
                ) from None
        return self._up.is_set() and not self._failed_to_start

    async def finish(self, within_s: float | None = None, *, stop: bool = False) -> SippResult:
        """Wait for the end; with `stop`, ask for it: no new call, the current ones finish.

        After `within_s`, SIGTERM (SIPp still writes its statistics), SIGKILL if that is not
        enough, and SippTimeout.
        """
        if stop and self._process.returncode is None:
            self._process.send_signal(signal.SIGUSR1)  # SIPp's soft exit, as its 'q' key
        timed_out = False
        try:
            await asyncio.wait_for(self._process.wait(), within_s)
        except TimeoutError:
            timed_out = True
            self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), _KILL_AFTER_S)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        await asyncio.gather(*self._readers)
        self._workdir.cleanup()
        result = self._result()
        if timed_out:
            raise SippTimeout(f"SIPp was stopped after {within_s:g} s. {result.summary()}", result)
        return result

    def _result(self) -> SippResult:
        stats = dict(zip(self._header or (), self._last_row or (), strict=False))
        stats.pop("", None)  # after the ';' that ends every line
        stdout = b"".join(self._stdout).decode("utf-8", "replace")
        screen = dict(_SCREEN_COUNTER.findall(stdout))  # in case no statistics came
        returncode = self._process.returncode
        assert returncode is not None
        return SippResult(
            returncode=returncode,
            successful=int(stats.get("SuccessfulCall(C)") or screen.get("Successful call", 0)),
            failed=int(stats.get("FailedCall(C)") or screen.get("Failed call", 0)),
            stdout=stdout,
            stderr="\n".join(self._stderr),
            stats=stats,
        )


def _lost_race(result: SippResult) -> bool:
    return result.returncode == _LOST_RACE and "Address already in use" in result.stderr


def _no_free_ports() -> OSError:
    return OSError(errno.EADDRINUSE, f"SIPp lost the race for free ports {ATTEMPTS} times")


async def run_sipp(
    scenario: Path | str,
    target: str | None,
    *,
    local_host: str = "127.0.0.1",
    local_port: int = 0,
    calls: int = 1,
    rate: float = 1.0,
    service: str | None = None,
    inf: Path | None = None,
    account: Account | None = None,
    extra: Sequence[str] = (),
    timeout_s: float = 60,
) -> SippResult:
    """Run `scenario` until `calls` calls are over; how it went.

    `target` is "host:port" for a calling scenario, None for an answering one. `local_port` 0
    takes a free port (and relaunches after a lost race). `service` is the called user (-s);
    `inf` an injection file, or `account` one written for the run: its credentials answer
    challenges. `extra` goes last on SIPp's command line (e.g. "-d", "100" for a 100 ms
    call). After `timeout_s`, this SIPp and only it is stopped, and SippTimeout raised.
    SIPp notices that its last call is over at its next rate tick: at the default 1 call/s,
    up to a second late; a higher rate ends short runs sooner.
    """
    _scenario_arguments(scenario)
    if inf is not None and account is not None:
        raise SippError("give either an injection file or an account, not both")
    if calls < 1:
        raise SippError(f"a SIPp run places or takes at least one call, not {calls}")
    if not rate > 0:
        raise SippError(f"the call rate must be above 0 calls/s, not {rate}")
    if not timeout_s > 0:
        raise SippError(f"the time limit must be above 0 s, not {timeout_s}")
    order = _Order(
        scenario,
        target,
        local_host=local_host,
        calls=calls,
        rate=rate,
        service=service,
        inf=inf,
        account=account,
        lifetime_s=timeout_s,
        extra=extra,
    )
    for _ in range(ATTEMPTS):
        process = await _SippProcess.launch(order, local_port)
        result = await process.finish(timeout_s)
        if not (_lost_race(result) and not local_port):
            return result
    raise _no_free_ports()


async def check_scenario(
    scenario: Path | str,
    *,
    local_host: str = "127.0.0.1",
    inf: Path | None = None,
    account: Account | None = None,
    within_s: float = 30,
) -> None:
    """Have SIPp load `scenario` and start, placing no call; SippError with its complaint.

    A scenario that reads [fieldN] needs an injection file (`inf` or `account`).
    """
    for _ in range(ATTEMPTS):
        port = _choose_ports(local_host, 0).sip
        # Rate 0: no call; the target is SIPp itself, should one go anyway.
        order = _Order(
            scenario,
            f"{local_host}:{port}",
            local_host=local_host,
            rate=0,
            inf=inf,
            account=account,
            lifetime_s=within_s,
        )
        process = await _SippProcess.launch(order, port)
        if await process.started(within_s):
            await process.finish(within_s, stop=True)
            return
        result = await process.finish(within_s)
        if not _lost_race(result):
            raise SippError(f"SIPp cannot run {scenario}: {result.summary()}")
    raise _no_free_ports()


class SippAgent:
    """A SIPp that answers calls until stopped (uas_answer.xml, uas_busy.xml...) on `port`.

    `agent = await SippAgent.start(...)`, then `await agent.stop()` for its counters; or
    `async with await SippAgent.start(...) as agent:`.
    """

    def __init__(self, process: _SippProcess, local_host: str, port: int) -> None:
        self._process = process
        self.local_host = local_host
        self.port = port
        self._result: SippResult | None = None

    def __repr__(self) -> str:
        return f"SippAgent({self.address})"

    @property
    def address(self) -> str:
        """Where the agent listens, "host:port", as a target for `run_sipp`."""
        return f"{self.local_host}:{self.port}"

    @classmethod
    async def start(
        cls,
        scenario: Path | str,
        *,
        local_host: str = "127.0.0.1",
        local_port: int = 0,
        register_at: str | None = None,
        account: Account | None = None,
        inf: Path | None = None,
        extra: Sequence[str] = (),
        lifetime_s: float = 900,
        start_timeout_s: float = 30,
    ) -> SippAgent:
        """Start `scenario` (an answering one), registered first if `register_at` is given.

        Registration runs register_auth.xml against `register_at` ("host:port") with
        `account` or `inf`, from the very port the agent then listens on: the operator core
        sends a line's calls to where its REGISTER came from. The agent ends by itself after
        `lifetime_s` seconds if nobody stops it.
        """
        _scenario_arguments(scenario)
        if register_at is not None and account is None and inf is None:
            raise SippError("registering the agent needs an account or an injection file")
        order = _Order(scenario, local_host=local_host, lifetime_s=lifetime_s, extra=extra)
        for _ in range(ATTEMPTS):
            port = local_port or _choose_ports(local_host, 0).sip
            if register_at is not None:
                registered = await run_sipp(
                    SCENARIOS / "register_auth.xml",
                    register_at,
                    local_host=local_host,
                    local_port=port,
                    account=account,
                    inf=inf,
                    rate=100,  # at 1 call/s SIPp would notice the end a second late
                    timeout_s=start_timeout_s,
                )
                if _lost_race(registered) and not local_port:
                    continue
                if not registered.ok:
                    raise SippError(f"the agent could not register: {registered.summary()}")
            process = await _SippProcess.launch(order, port)
            if await process.started(start_timeout_s):
                return cls(process, local_host, port)
            result = await process.finish(start_timeout_s)
            if not (_lost_race(result) and not local_port):
                raise SippError(f"the agent did not start: {result.summary()}")
        raise _no_free_ports()

    async def stop(self, timeout_s: float = 10) -> SippResult:
        """Stop this SIPp and return its counters.

        The calls in progress have `timeout_s` to finish (SIPp's uas, which holds each call
        4 s after its BYE, needs them; 0 for none), then SIPp is terminated: their counts
        are lost.
        """
        if self._result is None:
            try:
                self._result = await self._process.finish(timeout_s, stop=True)
            except SippTimeout as lingered:
                self._result = lingered.result
        return self._result

    async def __aenter__(self) -> SippAgent:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
