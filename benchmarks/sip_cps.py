"""SIP calls per second: the highest call rate the operator core carries without a failed call.

Usage: python benchmarks/sip_cps.py [--rates 100,200,...] [--step-s 3] [--hold-ms 100]
                                    [--refine 2] [--no-kamailio]

The operator core runs in this process on the wall clock, without its flood guard (which
caps each source host, and all of SIPp sends from 127.0.0.1), with two subscribers: Bob, a SIPp
answering every call (uas_answer.xml) registered through the core from the port it listens on,
and Alice, a SIPp caller (uac_call.xml) who calls Bob through the core. Each step places
`--step-s` seconds' worth of calls at one rate, each held `--hold-ms`. A step passes when every
call succeeds and the rate was kept: the calls over the step's time less one call's mean
length come to 90% of the rate asked or more (a system that queues falls short, its calls end
late). The rates go up until a step fails, then `--refine` halvings of the gap between the
last rate passed and the first failed follow, each on a fresh system (no retransmissions left
over from the overload). Bob's calls linger 4 s after their BYE to answer it again, as a line
would; Alice ignores what comes during her hold (-pause_msg_ign).

The same runs against Kamailio when it is installed, as a yardstick: a kamailio.cfg written to
a temporary folder, listening on 127.0.0.1 on a free UDP port, 2 UDP workers (one per core
of the reference machine), usrloc in memory, registrar, no record-route (the ACK and BYE go
through it by their Request-URI, to Bob's contact), and digest authentication like the
core's: MD5 with qop=auth on REGISTER and INVITE, 401 challenges, one password for all users
(no database).

Ends with: RESULT emulator_cps=... kamailio_cps=... (0 for a system absent or failing at the
first rate).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Keep this script's folder off the import path, like the other benchmarks; the repository's
# root goes on it for the SIPp runner of the tests.
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator, Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from emulator.telephony.core import OperatorCore  # noqa: E402
from emulator.telephony.registrar import Subscriber  # noqa: E402
from profiles.clock import RealClock  # noqa: E402
from tests.emulator.telephony.sipp_runner import (  # noqa: E402
    SCENARIOS,
    SIPP,
    Account,
    SippAgent,
    SippError,
    SippTimeout,
    run_sipp,
)

RATES = (100, 200, 400, 800, 1000, 1200, 1600, 2000, 2400, 3200, 4000)
PASSWORD = "bench-Secret-1"
ALICE = ("+33100000001", "alice")
BOB = ("+33100000002", "bob")
SIPP_LOG = re.compile(r"\d{4}-\d\d-\d\d\t")
KEPT_RATE = 0.9  # below this share of the asked rate, SIPp (or the host) fell behind
# Overload shows as failed calls within seconds (SIPp's receive timeout), not after INVITE's
# 32 s of retransmissions; bigger socket buffers keep loopback bursts from being dropped.
SIPP_TUNING = ("-recv_timeout", "5000", "-buff_size", "4194304")


@dataclass(frozen=True, slots=True)
class Step:
    """One rate tried: the calls placed, how many failed, the rate SIPp kept."""

    rate: int
    calls: int
    successful: int
    failed: int
    kept_cps: float
    call_ms: float  # the mean length of a call, from INVITE to the 200 to the BYE
    note: str = ""

    @property
    def passed(self) -> bool:
        return (
            self.failed == 0
            and self.successful == self.calls
            and self.kept_cps >= KEPT_RATE * self.rate
        )

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"  {self.rate:>5} calls/s: {self.successful}/{self.calls} answered, "
            f"{self.failed} failed, {self.kept_cps:.0f} calls/s kept, "
            f"{self.call_ms:.0f} ms a call, {verdict}" + (f" ({self.note})" if self.note else "")
        )


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


async def step(target: str, domain: str, rate: int, step_s: float, hold_ms: int) -> Step:
    """Alice calls Bob through `target` at `rate` calls/s for `step_s` seconds."""
    calls = max(1, round(rate * step_s))
    alice = Account(ALICE[1], PASSWORD, ALICE[0], domain)
    began = time.perf_counter()
    try:
        result = await run_sipp(
            SCENARIOS / "uac_call.xml",
            target,
            calls=calls,
            rate=rate,
            service=BOB[0],
            account=alice,
            # No cap on simultaneous calls: SIPp would slow down instead of showing the overload.
            # What comes during the hold is ignored: Kamailio's two workers may pass Bob's 180
            # on after his 200, which the caller drops (RFC 3261 17.1.1.2) and SIPp would not.
            extra=("-d", str(hold_ms), "-l", str(calls), "-pause_msg_ign", *SIPP_TUNING),
            timeout_s=step_s + 60,
        )
    except SippTimeout as stuck:
        result = stuck.result
    call_ms = milliseconds(result.stats.get("CallLength(C)", ""))
    # The calls went out over the elapsed time less the last call's own length (the mean).
    placing_s = max(time.perf_counter() - began - max(call_ms, hold_ms) / 1000, 1e-3)
    note = first_complaint(result.stderr) if result.failed else ""
    return Step(rate, calls, result.successful, result.failed, calls / placing_s, call_ms, note)


def first_complaint(stderr: str) -> str:
    """SIPp's first reason for a failed call, without the call's identity."""
    # SIPp's own lines start with a date; the SIP messages it quotes do not.
    logged = [line.split(": ", 1)[-1] for line in stderr.splitlines() if SIPP_LOG.match(line)]
    reasons = [line for line in logged if "Abort" in line or "timeout" in line] or logged
    if not reasons:
        return ""
    return re.sub(r" for Call-I[dD] '[^']*'|Call-I[dD]: [^,]*, ", "", reasons[0])[:140]


def milliseconds(length: str) -> float:
    """SIPp's "hh:mm:ss:microseconds" in milliseconds (0 if unreadable)."""
    parts = length.split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        return 0.0
    hours, minutes, seconds, micro = map(int, parts)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + micro / 1000


@dataclass(frozen=True, slots=True)
class Plan:
    """How the rates are tried."""

    rates: Sequence[int]
    step_s: float
    hold_ms: int
    refine: int  # halvings of the gap between the last rate passed and the first failed


System = Callable[[], contextlib.AbstractAsyncContextManager[tuple[str, str]]]


async def climb(system: System, rates: Sequence[int], plan: Plan) -> tuple[int, int | None]:
    """On a fresh `system`, raise the rate until a step fails: (best passed, first failed)."""
    best = 0
    async with system() as (target, domain):
        bob = Account(BOB[1], PASSWORD, BOB[0], domain)
        async with await SippAgent.start(
            SCENARIOS / "uas_answer.xml",
            register_at=target,
            account=bob,
            # Bob's calls linger 4 s to answer a BYE sent again, as a real line would.
            extra=(*SIPP_TUNING, "-set", "linger_ms", "4000"),
        ):
            for rate in rates:
                tried = await step(target, domain, rate, plan.step_s, plan.hold_ms)
                print(tried, flush=True)
                if not tried.passed:
                    return best, rate
                best = rate
    return best, None


async def measure(name: str, system: System, plan: Plan) -> int:
    """The highest rate `system` carries: the ladder, then halvings, each on a fresh system.

    A fresh system for each halving: after an overload, retransmissions of the failed calls
    would still load the old one.
    """
    print(f"{name}:", flush=True)
    try:
        best, failed = await climb(system, plan.rates, plan)
        for _ in range(plan.refine):
            if failed is None or best == 0 or failed - best <= 20:
                break
            middle = round((best + failed) / 20) * 10
            reached, _ = await climb(system, [middle], plan)
            best, failed = (middle, failed) if reached else (best, middle)
    except (SippError, ImportError, AttributeError, OSError) as error:
        print(f"{name}: not measured: {error}", file=sys.stderr)
        return 0
    return best


@contextlib.asynccontextmanager
async def operator_core(host: str) -> AsyncIterator[tuple[str, str]]:
    """The emulator's operator core with Alice and Bob: its address and its SIP domain."""
    # Without the flood guard: it lets 200 messages a second in from each host, and every SIPp
    # here sends from 127.0.0.1, so with it this would measure the guard (about 25 calls/s).
    core = await OperatorCore.start(clock=RealClock(), host=host, port=0, guard=False)
    try:
        for number, user in (ALICE, BOB):
            core.add_subscriber(Subscriber(number, user, PASSWORD))
        yield f"{host}:{core.port}", core.domain
    finally:
        await core.close()


KAMAILIO_CFG = """#!KAMAILIO
debug=1
log_stderror=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:{host}:{port}
alias="{domain}"

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        # No record-route: an in-dialog request goes to its Request-URI, the far end's contact.
        if (is_method("ACK") && !t_check_trans()) {{
            forward();
            exit;
        }}
        t_relay();
        exit;
    }}
    if (is_method("CANCEL") || is_method("ACK")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (!pv_www_authenticate("{domain}", "{password}", "0")) {{
        www_challenge("{domain}", "1");
        exit;
    }}
    consume_credentials();
    if (is_method("REGISTER")) {{
        save("location");
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
        t_relay();
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


@contextlib.asynccontextmanager
async def kamailio(executable: str, host: str) -> AsyncIterator[tuple[str, str]]:
    """Kamailio on a free port with the configuration above: its address and domain."""
    domain = "lab.test"
    with tempfile.TemporaryDirectory(prefix="kamailio-") as folder:
        port = free_udp_port(host)
        config = Path(folder) / "kamailio.cfg"
        config.write_text(
            KAMAILIO_CFG.format(host=host, port=port, domain=domain, password=PASSWORD)
        )
        process = await asyncio.create_subprocess_exec(
            *(executable, "-f", str(config), "-DD", "-E", "-m", "256", "-M", "16"),
            *("-Y", folder, "-w", folder),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            # Bob's REGISTER is retransmitted until Kamailio is up: no wait needed here.
            yield f"{host}:{port}", domain
        finally:
            if process.returncode is None:
                process.terminate()
            _, errors = await process.communicate()
            if process.returncode not in (0, -15):
                print(errors.decode(errors="replace")[-2000:], file=sys.stderr)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--step-s", type=float, default=3.0, help="seconds of calls per rate")
    parser.add_argument("--hold-ms", type=int, default=100, help="how long each call lasts")
    parser.add_argument("--refine", type=int, default=2, help="halvings after the first failure")
    parser.add_argument("--no-kamailio", action="store_true")
    arguments = parser.parse_args()
    if SIPP is None:
        sys.exit("SIPp is not installed (no 'sipp' on the PATH; Debian: sip-tester)")
    plan = Plan(
        [int(rate) for rate in arguments.rates.split(",")],
        arguments.step_s,
        arguments.hold_ms,
        arguments.refine,
    )
    host = "127.0.0.1"
    emulator_cps = await measure("emulator", lambda: operator_core(host), plan)
    executable = shutil.which("kamailio")
    kamailio_cps = 0
    if executable is None:
        print("kamailio: not installed, not measured", file=sys.stderr)
    elif not arguments.no_kamailio:
        kamailio_cps = await measure("kamailio", lambda: kamailio(executable, host), plan)
    print(f"RESULT emulator_cps={emulator_cps} kamailio_cps={kamailio_cps}")


if __name__ == "__main__":
    asyncio.run(main())
