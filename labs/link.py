"""A box's WAN behind a real shaped link: two network namespaces, a veth pair, HTB at DSL rates."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, get_args

from emulator.dsl import (
    AAL5_TRAILER_BYTES,
    ATM_CELL_BYTES,
    ATM_CELL_PAYLOAD_BYTES,
    ETHERNET_FCS_BYTES,
    ETHERNET_HEADER_BYTES,
    FULL_PACKET_IP_BYTES,
    LLC_SNAP_BYTES,
    PPPOE_BYTES,
    PTM_DELIMITER_BYTES,
    PTM_TC_CRC_BYTES,
    VLAN_TAG_BYTES,
    DslLine,
    LinkStatus,
    Technology,
)

Framing = Literal["atm", "ptm"]
Direction = Literal["down", "up"]

#: What each IP packet carries on an ADSL line before it is cut into cells: PPPoE, the bridged
#: Ethernet header, LLC/SNAP and the AAL5 trailer (as `emulator.dsl.atm_cells` counts them).
ATM_OVERHEAD_BYTES: Final = (
    PPPOE_BYTES + ETHERNET_HEADER_BYTES + LLC_SNAP_BYTES + AAL5_TRAILER_BYTES
)
#: What each IP packet carries on a VDSL line before 64/65 encapsulation: PPPoE, the VLAN-tagged
#: Ethernet frame with its FCS, the TC-CRC and the codeword delimiters (`emulator.dsl`).
PTM_OVERHEAD_BYTES: Final = (
    PPPOE_BYTES
    + VLAN_TAG_BYTES
    + ETHERNET_HEADER_BYTES
    + ETHERNET_FCS_BYTES
    + PTM_TC_CRC_BYTES
    + PTM_DELIMITER_BYTES
)
#: The link's MTU: the IP packet PPPoE leaves room for, the model's full-size packet.
LINK_MTU: Final = FULL_PACKET_IP_BYTES
#: The kernel already counts a veth frame's Ethernet header in the length the qdisc sees, so
#: the size table adds only the rest of the overhead.
VETH_FRAME_HEADER_BYTES: Final = ETHERNET_HEADER_BYTES
#: Every namespace this module makes is named `lblab-<side>-<random suffix>`.
NAMESPACE_PREFIX: Final = "lblab-"
#: The interface at each end: the box's WAN port and the network's (DSLAM) port.
BOX_INTERFACE: Final = "wan0"
NETWORK_INTERFACE: Final = "dsl0"
#: Highest rate a link is made for: a DSL line never comes near it.
MAX_RATE_KBPS: Final = 1_000_000
MAX_OVERHEAD_BYTES: Final = 256
#: How long TCP gets to fill the link before the measuring window opens.
WARMUP_S: Final = 0.5
MAX_MEASURE_S: Final = 60.0
#: Slack on top of the measuring time for starting interpreters and the TCP handshake.
PROCESS_SLACK_S: Final = 10.0
#: Each direction queues at most this long of full-size packets, like a DSLAM's buffer, so that a
#: flow cut short leaves little behind to disturb the next measurement.
QUEUE_S: Final = Fraction(1, 10)
MIN_QUEUE_PACKETS: Final = 8
COMMAND_TIMEOUT_S: Final = 10.0
#: Where `ip netns` keeps its named namespaces.
NETNS_RUN_DIR: Final = Path("/var/run/netns")

# CAP_NET_ADMIN for links and qdiscs, CAP_SYS_ADMIN for namespaces (capability(7) numbers).
_CAP_NET_ADMIN: Final = 12
_CAP_SYS_ADMIN: Final = 21


class LinkUnavailable(RuntimeError):
    """This machine cannot make a shaped link; the message says why (rights, tools, kernel)."""


class LinkProfileError(ValueError):
    """A shaped link asked for wrongly (rate, framing, overhead, line, measuring time)."""


class LinkStateError(RuntimeError):
    """A link used outside its `async with`, entered twice, or not cleaned up."""


class LinkMeasureError(RuntimeError):
    """A throughput measurement that did not complete; the message carries what failed."""


@dataclass(frozen=True, slots=True)
class LinkMeasure:
    """IP rates through a shaped link, modelled and measured, in kb/s.

    The measured rates are TCP goodput over the window, scaled to IP by full segments
    (`LINK_MTU` bytes of IP for each MSS of payload), so they compare with the model's IP rates.
    """

    modelled_down_kbps: int
    measured_down_kbps: int
    modelled_up_kbps: int
    measured_up_kbps: int

    @property
    def within(self) -> float:
        """The worst relative error of the two directions, e.g. 0.02 for 2 %."""
        return max(
            _relative_error(self.measured_down_kbps, self.modelled_down_kbps),
            _relative_error(self.measured_up_kbps, self.modelled_up_kbps),
        )


def _relative_error(measured: int, modelled: int) -> float:
    if modelled == 0:
        return 0.0 if measured == 0 else math.inf
    return abs(measured - modelled) / modelled


# --- Framing arithmetic ----------------------------------------------------------------


def line_bytes(framing: Framing, overhead_bytes: int, ip_bytes: int = LINK_MTU) -> Fraction:
    """Bytes on the line for one IP packet: whole ATM cells, or 64/65 PTM codewords."""
    carried = ip_bytes + overhead_bytes
    if framing == "atm":
        return Fraction(-(-carried // ATM_CELL_PAYLOAD_BYTES) * ATM_CELL_BYTES)
    return Fraction(carried * 65, 64)


def modelled_ip_kbps(line_kbps: int, framing: Framing, overhead_bytes: int) -> int:
    """The IP rate a line rate carries in full-size packets (`emulator.dsl.ip_rate_kbps`)."""
    return math.floor(line_kbps * LINK_MTU / line_bytes(framing, overhead_bytes))


def _line_kbps_for(ip_kbps: int, sync_kbps: int, framing: Framing, overhead_bytes: int) -> int:
    # The sync rate when it is what limits the IP rate; otherwise (an offer cap, TV) the lowest
    # line rate that carries the IP rate, so that the two round-trip exactly.
    if modelled_ip_kbps(sync_kbps, framing, overhead_bytes) == ip_kbps:
        return sync_kbps
    return math.ceil(ip_kbps * line_bytes(framing, overhead_bytes) / LINK_MTU)


def _check_rate(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LinkProfileError(f"{name} must be a whole number of kb/s (got {value!r})")
    if not 0 < value <= MAX_RATE_KBPS:
        raise LinkProfileError(
            f"{name} must be above 0 and at most {MAX_RATE_KBPS} kb/s (got {value!r})"
        )
    return value


# --- What the machine can do -----------------------------------------------------------


def _effective_capabilities() -> int | None:
    """The process's effective capability set, or None where /proc does not say."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return None


def _missing_requirement() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"shaped links need Linux network namespaces; this system is {sys.platform}"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the `{tool}` command (iproute2) is not installed"
    capabilities = _effective_capabilities()
    if capabilities is None:
        return "cannot read this process's capabilities from /proc/self/status"
    needed = (1 << _CAP_NET_ADMIN) | (1 << _CAP_SYS_ADMIN)
    if capabilities & needed != needed:
        return (
            "making network namespaces and shaping needs CAP_SYS_ADMIN and CAP_NET_ADMIN: "
            "run as root"
        )
    return None


def link_unavailable() -> str | None:
    """None when shaped links can be made here, else the reason.

    Besides rights and tools, a small link is really built and torn down (two namespaces, a
    veth pair, HTB with an ATM size table, an interpreter run inside), so a kernel without
    veth, HTB or size tables is found out here rather than in the middle of a lab.
    """
    missing = _missing_requirement()
    if missing is not None:
        return missing
    probe = ShapedLink(1_000, 1_000, framing="atm", overhead_bytes=ATM_OVERHEAD_BYTES)
    created: list[str] = []
    try:
        for argv in probe._setup_commands():
            if argv[:3] == ["ip", "netns", "add"]:
                created.append(argv[3])
            result = _run_sync(argv)
            if result.returncode != 0:
                return _failure_reason(argv, result.stderr, result.returncode)
        argv = [*_netns_exec(probe.box_namespace), *_python(), "pass"]
        result = _run_sync(argv)
        if result.returncode != 0:
            return _failure_reason(argv, result.stderr, result.returncode)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"could not run iproute2 to build a shaped link: {error}"
    finally:
        _delete_namespaces(created)
    return None


def _run_sync(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )


def _failure_reason(argv: Sequence[str], stderr: str | bytes, returncode: int | None) -> str:
    said = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
    said = " ".join(said.split()) or f"exit status {returncode}"
    return f"this machine cannot build a shaped link: `{' '.join(argv)}` failed: {said}"


def _delete_namespaces(names: Sequence[str]) -> list[str]:
    """Delete the namespaces this module made; returns what could not be deleted and why."""
    failures: list[str] = []
    for name in names:
        # Only ever a name of ours: the prefix guards against deleting anyone else's.
        if not name.startswith(NAMESPACE_PREFIX):
            failures.append(f"{name}: not a namespace of this lab, left alone")
            continue
        if not (NETNS_RUN_DIR / name).exists():
            continue  # never made: its `ip netns add` failed or was cut short
        try:
            result = _run_sync(["ip", "netns", "delete", name])
        except (OSError, subprocess.TimeoutExpired) as error:
            failures.append(f"{name}: {error}")
            continue
        if result.returncode != 0:
            failures.append(f"{name}: {' '.join(result.stderr.split())}")
    return failures


def _netns_exec(namespace: str) -> list[str]:
    return ["ip", "netns", "exec", namespace]


def _python() -> list[str]:
    # Isolated and without site: the measuring scripts need nothing but the standard library.
    return [sys.executable, "-I", "-S", "-c"]


# --- The measuring scripts, run inside the namespaces ----------------------------------

# Listens, prints its port, then counts what arrives during the window after the warm-up; it
# closes the connection when done, which stops the sender.
_RECEIVER: Final = """
import json, socket, sys, time
host, warmup, seconds, bound = sys.argv[1], *map(float, sys.argv[2:5])
with socket.create_server((host, 0)) as server:
    print(json.dumps({"port": server.getsockname()[1]}), flush=True)
    server.settimeout(bound)
    conn, _ = server.accept()
with conn:
    conn.settimeout(bound)
    buffer = bytearray(1 << 16)
    if conn.recv_into(buffer) == 0:
        sys.exit("the sender closed before sending")
    opens = time.monotonic() + warmup
    closes = opens + seconds
    total, start, start_total = 0, None, 0
    while True:
        received = conn.recv_into(buffer)
        if received == 0:
            sys.exit("the sender stopped before the window closed")
        now = time.monotonic()
        total += received
        if start is None:
            if now >= opens:
                start, start_total = now, total
        elif now >= closes:
            break
    print(json.dumps({"bytes": total - start_total, "seconds": now - start}), flush=True)
"""

# Sends until the receiver hangs up (or its own bound passes); prints the MSS it sends with.
_SENDER: Final = """
import json, socket, sys, time
host, port, bound = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + bound
with socket.create_connection((host, port), timeout=bound) as conn:
    mss = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    print(json.dumps({"mss": mss}), flush=True)
    chunk = bytes(1 << 16)
    try:
        while time.monotonic() < deadline:
            conn.sendall(chunk)
    except (ConnectionResetError, BrokenPipeError):
        pass
"""


class ShapedLink:
    """A box's WAN link, shaped like its DSL line: `async with` builds it, leaving removes it.

    Two namespaces, the box's (`box_namespace`, interface `wan0`, `box_address`) and the
    network's (`network_namespace`, interface `dsl0`, `network_address`), joined by a veth pair
    whose MTU is PPPoE's 1492. Each end shapes what it sends with HTB at the line rate
    (`down_kbps` from the network, `up_kbps` from the box), with a size table that counts each
    packet as the line carries it: `overhead_bytes` of encapsulation, then whole 53-byte cells
    on ATM (`linklayer atm`); on PTM the 64/65 encapsulation is a fixed fraction of the line,
    so HTB runs at 64/65 of the line rate. Segmentation offload is off (one segment a packet),
    since a size table sees a 64 KB offloaded packet as one.

    Nothing of the host is touched: links, addresses (10.x.y.1 and .2 in a /30) and queues are
    all made inside the two namespaces, and deleting them takes everything with it.

    >>> async with ShapedLink.for_line(line) as link:  # doctest: +SKIP
    ...     print(await link.measure())
    """

    def __init__(
        self, down_kbps: int, up_kbps: int, *, framing: Framing, overhead_bytes: int
    ) -> None:
        self.down_kbps: Final = _check_rate("down_kbps", down_kbps)
        self.up_kbps: Final = _check_rate("up_kbps", up_kbps)
        if framing not in get_args(Framing):
            known = ", ".join(get_args(Framing))
            raise LinkProfileError(f"unknown framing {framing!r}; expected one of: {known}")
        self.framing: Final[Framing] = framing
        if isinstance(overhead_bytes, bool) or not isinstance(overhead_bytes, int):
            raise LinkProfileError(
                f"overhead_bytes must be a whole number of bytes (got {overhead_bytes!r})"
            )
        if not 0 <= overhead_bytes <= MAX_OVERHEAD_BYTES:
            raise LinkProfileError(
                f"overhead_bytes must be from 0 to {MAX_OVERHEAD_BYTES} (got {overhead_bytes!r})"
            )
        self.overhead_bytes: Final = overhead_bytes
        suffix = secrets.token_hex(4)
        self.box_namespace: Final = f"{NAMESPACE_PREFIX}box-{suffix}"
        self.network_namespace: Final = f"{NAMESPACE_PREFIX}net-{suffix}"
        # A /30 of 10/8 from the suffix: inside private namespaces any address would do, and
        # two links at once still get different ones most of the time, which eases reading logs.
        second, third = bytes.fromhex(suffix)[:2]
        self.network_address: Final = f"10.{second}.{third}.1"
        self.box_address: Final = f"10.{second}.{third}.2"
        self._created: list[str] = []
        self._entered = False
        self._left = False

    @classmethod
    def for_line(cls, line: DslLine) -> ShapedLink:
        """The link a DSL line gives: ATM framing on ADSL2+, PTM on VDSL2 (as trained), at its
        sync rates, or, where the offer's cap or TV holds the IP rate lower, at the line rate
        that carries exactly that IP rate."""
        ip = line.ip_rates()
        if line.status is not LinkStatus.UP:
            raise LinkProfileError(
                f"{line.name} is {line.status.value}: a line must be Up to give a link its rates"
            )
        framing: Framing
        if line.technology is Technology.ADSL2_PLUS:
            framing, overhead = "atm", ATM_OVERHEAD_BYTES
        else:
            framing, overhead = "ptm", PTM_OVERHEAD_BYTES
        rates = line.rates
        return cls(
            _line_kbps_for(ip.down_kbps, rates.sync_down_kbps, framing, overhead),
            _line_kbps_for(ip.up_kbps, rates.sync_up_kbps, framing, overhead),
            framing=framing,
            overhead_bytes=overhead,
        )

    def __repr__(self) -> str:
        return (
            f"ShapedLink(down_kbps={self.down_kbps}, up_kbps={self.up_kbps}, "
            f"framing={self.framing!r}, overhead_bytes={self.overhead_bytes})"
        )

    @property
    def modelled_down_kbps(self) -> int:
        """The IP rate downstream in full-size packets."""
        return modelled_ip_kbps(self.down_kbps, self.framing, self.overhead_bytes)

    @property
    def modelled_up_kbps(self) -> int:
        """The IP rate upstream in full-size packets."""
        return modelled_ip_kbps(self.up_kbps, self.framing, self.overhead_bytes)

    @property
    def namespaces(self) -> tuple[str, str]:
        """The box's namespace and the network's."""
        return (self.box_namespace, self.network_namespace)

    # --- building and removing ---

    def _shaper_commands(self, namespace: str, device: str, line_kbps: int) -> list[list[str]]:
        line_bits = line_kbps * 1000
        size_table = ["stab", "overhead", str(self.overhead_bytes - VETH_FRAME_HEADER_BYTES)]
        if self.framing == "atm":
            size_table += ["linklayer", "atm"]
            shaped_bits = Fraction(line_bits)
        else:
            shaped_bits = Fraction(line_bits * 64, 65)
        rate = f"{round(shaped_bits)}bit"
        packet = line_bytes(self.framing, self.overhead_bytes)
        queue = max(MIN_QUEUE_PACKETS, math.floor(line_bits / 8 * QUEUE_S / packet))
        tc = ["tc", "-n", namespace]
        root = [*tc, "qdisc", "add", "dev", device, "root", "handle", "1:"]
        shaper = ["htb", "rate", rate, "ceil", rate, "quantum", str(math.ceil(packet))]
        return [
            [*root, *size_table, "htb", "default", "1"],
            [*tc, "class", "add", "dev", device, "parent", "1:", "classid", "1:1", *shaper],
            [*tc, "qdisc", "add", "dev", device, "parent", "1:1", "pfifo", "limit", str(queue)],
        ]

    def _setup_commands(self) -> list[list[str]]:
        box, network = self.box_namespace, self.network_namespace
        # One segment a packet, so that the size table sees every packet as the line would.
        port = ["mtu", str(LINK_MTU), "gso_max_segs", "1"]
        peer = ["peer", "name", NETWORK_INTERFACE, *port, "netns", network]
        commands = [
            ["ip", "netns", "add", box],
            ["ip", "netns", "add", network],
            ["ip", "-n", box, "link", "add", BOX_INTERFACE, *port, "type", "veth", *peer],
        ]
        for namespace, device, address in (
            (box, BOX_INTERFACE, self.box_address),
            (network, NETWORK_INTERFACE, self.network_address),
        ):
            commands += [
                ["ip", "-n", namespace, "address", "add", f"{address}/30", "dev", device],
                ["ip", "-n", namespace, "link", "set", "lo", "up"],
                ["ip", "-n", namespace, "link", "set", device, "up"],
            ]
        commands += self._shaper_commands(network, NETWORK_INTERFACE, self.down_kbps)
        commands += self._shaper_commands(box, BOX_INTERFACE, self.up_kbps)
        return commands

    async def __aenter__(self) -> ShapedLink:
        if self._entered:
            raise LinkStateError(f"{self!r} was already entered; make a new ShapedLink")
        self._entered = True
        reason = _missing_requirement()
        if reason is not None:
            raise LinkUnavailable(reason)
        try:
            for argv in self._setup_commands():
                # Counted before it runs: a cancelled `ip netns add` may still have made it.
                if argv[:3] == ["ip", "netns", "add"]:
                    self._created.append(argv[3])
                returncode, _, stderr = await _run(argv, COMMAND_TIMEOUT_S)
                if returncode != 0:
                    raise LinkUnavailable(_failure_reason(argv, stderr, returncode))
        except BaseException:
            self._remove()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        # Synchronous on purpose: a cancelled task still removes its namespaces.
        self._left = True
        created, self._created = self._created, []
        failures = _delete_namespaces(created)
        if failures:
            raise LinkStateError("could not delete the link's namespaces: " + "; ".join(failures))

    # --- measuring ---

    async def measure(self, seconds: float = 3.0) -> LinkMeasure:
        """Send TCP through the link one direction at a time, each for `WARMUP_S` then
        `seconds` of measuring, and compare the IP rate it reached with the model's."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise LinkProfileError(f"seconds must be a number (got {seconds!r})")
        if not 0 < seconds <= MAX_MEASURE_S:
            raise LinkProfileError(
                f"seconds must be above 0 and at most {MAX_MEASURE_S:g} (got {seconds!r})"
            )
        if not self._entered or self._left:
            raise LinkStateError(
                "measure a ShapedLink inside its `async with`: its namespaces do not exist now"
            )
        # One direction at a time: the downstream flow's ACKs would eat into upstream.
        down = await self._measure_direction("down", float(seconds))
        up = await self._measure_direction("up", float(seconds))
        return LinkMeasure(
            modelled_down_kbps=self.modelled_down_kbps,
            measured_down_kbps=down,
            modelled_up_kbps=self.modelled_up_kbps,
            measured_up_kbps=up,
        )

    async def _measure_direction(self, direction: Direction, seconds: float) -> int:
        sender_ns, receiver_ns, host = (
            (self.network_namespace, self.box_namespace, self.box_address)
            if direction == "down"
            else (self.box_namespace, self.network_namespace, self.network_address)
        )
        bound = WARMUP_S + seconds + PROCESS_SLACK_S
        processes: list[asyncio.subprocess.Process] = []
        try:
            window_args = [host, str(WARMUP_S), str(seconds), str(bound)]
            receiver = await _spawn(
                [*_netns_exec(receiver_ns), *_python(), _RECEIVER, *window_args]
            )
            processes.append(receiver)
            assert receiver.stdout is not None  # spawned with a pipe
            ready = await asyncio.wait_for(receiver.stdout.readline(), bound)
            if not ready:
                raise await _failed(f"{direction}stream receiver", receiver, bound)
            port = int(_report(ready, "port"))
            sender = await _spawn(
                [*_netns_exec(sender_ns), *_python(), _SENDER, host, str(port), str(bound)]
            )
            processes.append(sender)
            (received, receiver_err), (sent, sender_err) = await asyncio.wait_for(
                asyncio.gather(receiver.communicate(), sender.communicate()), bound
            )
            if receiver.returncode != 0:
                raise _failure(f"{direction}stream receiver", receiver.returncode, receiver_err)
            if sender.returncode != 0:
                raise _failure(f"{direction}stream sender", sender.returncode, sender_err)
            counted = _report(received, "bytes")
            elapsed = _report(received, "seconds")
            mss = int(_report(sent.partition(b"\n")[0], "mss"))
        except TimeoutError as error:
            raise LinkMeasureError(
                f"the {direction}stream measurement did not finish within {bound:g} s"
            ) from error
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        goodput_bits = counted * 8 / elapsed
        # Each full segment of `mss` payload bytes is one LINK_MTU-byte IP packet.
        return round(goodput_bits * LINK_MTU / mss / 1000)


def _report(line: bytes, field: str) -> float:
    """A number from the JSON line a measuring script printed."""
    try:
        value = json.loads(line)[field]
    except (ValueError, KeyError, TypeError) as error:
        raise LinkMeasureError(
            f"a measuring script printed {line[:200]!r}, not a JSON object with {field!r}"
        ) from error
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise LinkMeasureError(f"a measuring script reported {field} = {value!r}")
    return float(value)


async def _spawn(argv: Sequence[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _run(argv: Sequence[str], timeout: float) -> tuple[int, bytes, bytes]:
    process = await _spawn(argv)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    assert process.returncode is not None  # communicate() waited for it
    return process.returncode, stdout, stderr


async def _failed(what: str, process: asyncio.subprocess.Process, bound: float) -> LinkMeasureError:
    _, stderr = await asyncio.wait_for(process.communicate(), bound)
    return _failure(what, process.returncode, stderr)


def _failure(what: str, returncode: int | None, stderr: bytes) -> LinkMeasureError:
    said = " ".join(stderr.decode(errors="replace").split()[-40:]) or "nothing on stderr"
    return LinkMeasureError(f"the {what} failed (exit status {returncode}): {said}")
