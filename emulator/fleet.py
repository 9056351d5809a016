"""Many emulated boxes in one process, each served over SSH and sysbus on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from emulator.box import EmulatedBox
from emulator.dsl import LineProfile, Technology
from emulator.sip.pcap import PcapTap
from emulator.ssh import SshServer
from emulator.sysbus import SysbusServer
from emulator.telephony.calls import CustomerLine
from emulator.telephony.core import OperatorCore
from emulator.telephony.exchange import ClassicLine
from emulator.telephony.forwarding import ForwardingError, ForwardingRules
from emulator.telephony.registrar import Subscriber
from emulator.voip import LINE, VoipLine
from profiles.clock import Clock, RealClock
from profiles.datamodel import DataModel
from profiles.model import LineName, Offer

#: Where per-box loopback addresses start: 127.0.0.1 stays free for everything else.
FIRST_BOX_NETWORK = ipaddress.IPv4Address("127.10.0.0")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
#: How many boxes start at once: enough to fill the loop, few enough to stay responsive.
START_BATCH = 200


@dataclass(frozen=True, slots=True)
class LineSpec:
    """The DSL line every box of a fleet gets (one technology, one attenuation)."""

    technology: Technology = Technology.VDSL2
    attenuation_db: float = 12.0
    tv_in_use: bool = False

    def profile(self) -> LineProfile:
        return LineProfile(
            self.technology, attenuation_db=self.attenuation_db, tv_in_use=self.tv_in_use
        )


@dataclass(frozen=True, slots=True)
class LineNumbers:
    """The numbers the operator gave a box's two lines, and the VoIP line's SIP user name."""

    voip: str
    classic: str
    sip_user: str

    @classmethod
    def of(cls, index: int) -> LineNumbers:
        """The numbers of the index-th box (from 0): 09 numbers for VoIP, Paris ones for classic.

        Both ranges are valid French numbers as the numbering plan reads them, so calls to
        and from them are rated like real ones.
        """
        if not 0 <= index < 10_000_000:
            raise ValueError(f"no line numbers for box {index}")
        voip = f"+339{70000000 + index:08d}"
        # The SIP user is the line's number, as the operator's SIP accounts are.
        return cls(voip=voip, classic=f"+331{40000000 + index:08d}", sip_user=voip)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where and how one box of a fleet is served, when an inventory says so (a shard).

    Ports 0 are free ports; `numbers` and `sip_password` are the VoIP line's account at the
    operator (its site's directory number, SIP user and password).
    """

    host: str
    ssh_port: int = 0
    http_port: int = 0
    admin_user: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    numbers: LineNumbers | None = None
    sip_password: str | None = field(default=None, repr=False)
    #: The classic line's redirect-on-failure number, at the exchange.
    continuity: str | None = None


@dataclass(slots=True)
class ServedBox:
    """A box, the two servers that manage it and, with telephony, its VoIP line's agent."""

    box: EmulatedBox
    ssh: SshServer
    http: SysbusServer
    voip: VoipLine | None = None
    numbers: LineNumbers | None = None
    core: OperatorCore | None = None

    @property
    def name(self) -> str:
        return self.box.name

    def endpoints(self) -> dict[str, str]:
        """Where the box listens: `name`, `ssh` and `http` as host:port, and the admin `user`.

        With telephony, also `sip` (the operator core's host:port, where the VoIP line must
        register), the lines' numbers (`voip_number`, `classic_number`) and `sip_user`.
        """
        where = {
            "name": self.box.name,
            "ssh": f"{self.ssh.host}:{self.ssh.port}",
            "http": f"{self.http.host}:{self.http.port}",
            "user": self.box.admin_user,
        }
        if self.core is not None and self.numbers is not None:
            where |= {
                "sip": self.core.address,
                "voip_number": self.numbers.voip,
                "classic_number": self.numbers.classic,
                "sip_user": self.numbers.sip_user,
            }
        return where

    async def close(self) -> None:
        closing = [self.ssh.close(), self.http.close()]
        if self.voip is not None:
            closing.append(self.voip.close())
        await asyncio.gather(*closing)
        self.box.config.close()


def box_address(index: int) -> str:
    """The loopback address of the index-th box (from 0) of a fleet giving each box its own.

    Hosts .1 to .254 of each /24 from 127.10.0.0, so no box gets a network-looking address.
    """
    block, host = divmod(index, 254)
    address = FIRST_BOX_NETWORK + block * 256 + host + 1
    if index < 0 or address not in LOOPBACK:
        raise ValueError(f"no loopback address for box {index}")
    return str(address)


@dataclass
class Fleet:
    """N boxes on one offer, started on free ports of loopback addresses, stopped cleanly.

    With `own_addresses`, box i listens on its own 127.x.y.z address (from 127.10.0.1);
    otherwise all listen on 127.0.0.1. Ports are always free ports (port 0), so fleets run in
    parallel and beside other services. With `state_dir`, box i is kept in `state_dir/<name>`
    and comes back with its configuration after a restart.

    >>> async with Fleet(offer, boxes=3) as fleet:   # doctest: +SKIP
    ...     print([served.endpoints() for served in fleet.served])
    """

    offer: Offer
    boxes: int = 1
    line: LineSpec = field(default_factory=LineSpec)
    clock: Clock = field(default_factory=RealClock)
    admin_user: str = "admin"
    admin_password: str = "admin"
    state_dir: Path | None = None
    own_addresses: bool = False
    names: Iterable[str] | None = None
    #: Serve the operator core too: each box's VoIP line and classic line get numbers, the
    #: VoIP line registers where its tree says, with `sip_password` as the operator's secret.
    telephony: bool = True
    sip_password: str = field(default="livebox-lab-sip", repr=False)
    #: External SIP subscribers (any SIP phone may register as one of them).
    subscribers: Iterable[Subscriber] = ()
    #: Records the SIP traffic of the operator core (`tap.write(path)` gives a pcap).
    tap: PcapTap | None = None
    #: The index of the first box among all the bench's boxes: its numbers and (with
    #: `own_addresses`) its address come from it, so that fleets sharing a core do not clash.
    first_index: int = 0
    #: Per box name: where and how to serve it (otherwise free ports, the fleet's logins).
    placements: Mapping[str, Placement] = field(default_factory=dict)
    served: list[ServedBox] = field(default_factory=list)
    #: The operator core; one given here is shared (several fleets on one bench) and is not
    #: closed with this fleet.
    core: OperatorCore | None = None
    _own_core: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.boxes < 0:
            raise ValueError(f"a fleet cannot have {self.boxes} boxes")

    def box_names(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        width = max(3, len(str(self.boxes)))
        return [f"box-{n:0{width}d}" for n in range(1, self.boxes + 1)]

    async def start(
        self, on_ready: Callable[[ServedBox], Awaitable[None] | None] | None = None
    ) -> None:
        """Create and serve every box; `on_ready` is called as soon as each one listens."""
        model = DataModel.load()
        names = self.box_names()
        if self.telephony and self.core is None:
            self.core = await OperatorCore.start(clock=self.clock, tap=self.tap)
            self._own_core = True
            for subscriber in self.subscribers:
                self.core.add_subscriber(subscriber)
        for first in range(0, len(names), START_BATCH):
            batch = names[first : first + START_BATCH]
            started = await asyncio.gather(
                *(
                    self._serve(self.first_index + first + i, name, model)
                    for i, name in enumerate(batch)
                )
            )
            for served in started:
                self.served.append(served)
                if on_ready is not None:
                    result = on_ready(served)
                    if isinstance(result, Awaitable):
                        await result

    async def _serve(self, index: int, name: str, model: DataModel) -> ServedBox:
        placement = self.placements.get(name) or Placement(
            box_address(index) if self.own_addresses else "127.0.0.1"
        )
        box = EmulatedBox.create(
            name,
            self.offer,
            self.line.profile(),
            clock=self.clock,
            admin_user=placement.admin_user or self.admin_user,
            admin_password=placement.admin_password or self.admin_password,
            model=model,
            state_dir=self.state_dir / name if self.state_dir else None,
        )
        host = placement.host
        ssh = SshServer(box, host=host, port=placement.ssh_port)
        http = SysbusServer(box, host=host, port=placement.http_port)
        try:
            await ssh.start()
            await http.start()
        except BaseException:
            await asyncio.gather(ssh.close(), http.close(), return_exceptions=True)
            raise
        served = ServedBox(box, ssh, http)
        if self.core is not None:
            await self._connect_lines(served, index, placement)
        return served

    async def _connect_lines(self, served: ServedBox, index: int, placement: Placement) -> None:
        """Give the box its numbers on the operator core and start its VoIP line's agent."""
        core, box, host = self.core, served.box, placement.host
        assert core is not None
        numbers = placement.numbers or LineNumbers.of(index)

        def forwarding() -> ForwardingRules:
            try:
                return ForwardingRules.from_calling_features(
                    dict(box.config.get(f"{LINE}CallingFeatures."))
                )
            except ForwardingError:
                return ForwardingRules()

        core.add_subscriber(
            Subscriber(numbers.voip, numbers.sip_user, placement.sip_password or self.sip_password),
            owner=CustomerLine(box.name, LineName.VOIP),
            rules=forwarding,
        )
        core.add_classic_line(
            ClassicLine(
                numbers.classic,
                account=box.name,
                plan=core.plan,
                continuity=placement.continuity,
            )
        )
        served.voip = VoipLine(box, host, core.resolver)
        await served.voip.start()
        served.numbers, served.core = numbers, core

    async def close(self) -> None:
        """Stop every server and save every box that has a state directory."""
        served, self.served = self.served, []
        await asyncio.gather(*(s.close() for s in served), return_exceptions=True)
        if self.core is not None and self._own_core:
            await self.core.close()
            self.core = None
        for s in served:
            if s.box.state_dir is not None:
                s.box.save()

    def __getitem__(self, name: str) -> ServedBox:
        for served in self.served:
            if served.name == name:
                return served
        raise KeyError(f"no box named {name!r} in this fleet")

    async def __aenter__(self) -> Fleet:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


@dataclass(frozen=True, slots=True)
class Shard:
    """The I-th of N slices of a bench's boxes (from 1), for N emulator processes."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count}: expected I/N with 1 <= I <= N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N`, e.g. `2/4`; ValueError saying what is wrong."""
        index, slash, count = text.partition("/")
        if not slash or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"shard {text!r}: expected I/N, e.g. 2/4")
        return cls(int(index), int(count))

    def of(self, names: list[str]) -> list[str]:
        """This shard's names: the I-th of N contiguous blocks, as even as can be."""
        start = len(names) * (self.index - 1) // self.count
        end = len(names) * self.index // self.count
        return names[start:end]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
