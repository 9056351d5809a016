"""The operator core: registrar, B2BUA call server, exchange and virtual phones on one SIP port."""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from emulator.sip.compose import new_tag, response_to
from emulator.sip.headers import SipParseError, parse_name_addr
from emulator.sip.message import Request, Response, check_request
from emulator.sip.pcap import PcapTap
from emulator.sip.peer import Peer, loopback_only
from emulator.sip.sdp import audio_offer
from emulator.sip.stack import SipStack, TransactionUser
from emulator.sip.transaction import ClientTransaction, ServerTransaction
from emulator.sip.transport import FloodGuard, SipEndpoint
from emulator.telephony.calls import Attempt, Call, CustomerLine, Destination
from emulator.telephony.exchange import ClassicLine, Exchange
from emulator.telephony.forwarding import (
    Diversions,
    ForwardingError,
    ForwardingLoop,
    ForwardingRules,
    TooManyHops,
)
from emulator.telephony.legs import (
    PhoneAttempt,
    PhoneOrigin,
    SipAttempt,
    SipOrigin,
    VoicemailAttempt,
    final_status,
)
from emulator.telephony.phone import Behaviour, VirtualPhone
from emulator.telephony.registrar import Registrar, Subscriber
from profiles.catalogue import Catalogue
from profiles.clock import Clock, RealClock
from profiles.model import LineName
from profiles.numbering import NumberingPlan
from profiles.records import CallRecord

log = logging.getLogger(__name__)

#: The lab's SIP domain: a reserved name (RFC 2606), never resolved.
DEFAULT_DOMAIN: Final = "sip.livebox-lab.invalid"
METHODS: Final = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER")
ALLOW: Final = ", ".join(METHODS)
#: The bodies the core takes (session descriptions), and says it takes in OPTIONS.
MEDIA: Final = ("application/sdp",)
#: How long a finished dialog is remembered, to ACK and hang up a 2xx that raced a CANCEL.
LINGER_S: Final = 32.0
#: Finished calls kept for inspection.
LOG_SIZE: Final = 10_000

RecordSink = Callable[[CallRecord], object]


@dataclass(slots=True)
class SipLine:
    """A SIP subscriber as the core routes calls to it."""

    subscriber: Subscriber
    owner: CustomerLine | None
    #: Read when a call arrives: the forwarding the line's owner set (a box's CallingFeatures).
    rules: Callable[[], ForwardingRules]


def _no_rules() -> ForwardingRules:
    return ForwardingRules()


class OperatorCore:
    """The operator's side of both phone lines, on 127.0.0.1 (or any loopback address).

    - a registrar where SIP lines register with digest authentication;
    - a B2BUA that routes calls between registered lines, virtual phones and the classic
      lines of the exchange, and forwards and redirects them itself (never by a 3xx to the
      caller: pyVoIP 1.6.8 is stuck on any final response but 200, 404 and 503);
    - call records for every leg charged to a customer, handed to `record_sinks` (e.g. a
      `profiles.hooks.RatingHooks`).

    >>> core = await OperatorCore.start()                                  # doctest: +SKIP
    >>> core.add_subscriber(Subscriber("+33987000001", "line1", "secret"))  # doctest: +SKIP
    >>> core.address                                                       # doctest: +SKIP
    '127.0.0.1:40213'
    """

    def __init__(
        self,
        clock: Clock,
        *,
        domain: str = DEFAULT_DOMAIN,
        plan: NumberingPlan | None = None,
        secret_key: bytes | None = None,
    ) -> None:
        self.clock = clock
        self.domain = domain
        self.plan = plan or Catalogue.load().numbering_plan()
        self.registrar = Registrar(
            domain=domain, clock=clock, secret_key=secret_key or secrets.token_bytes(32)
        )
        self.exchange = Exchange(self.plan)
        self.stack = SipStack(clock, self._on_request)
        self.stack.on_server_timeout = self._on_server_timeout
        self.lines: dict[str, SipLine] = {}
        self.phones: dict[str, VirtualPhone] = {}
        self.classic_phones: dict[str, VirtualPhone] = {}
        self.dialogs: dict[str, SipOrigin | SipAttempt] = {}
        self.record_sinks: list[RecordSink] = []
        self.log: collections.deque[Call] = collections.deque(maxlen=LOG_SIZE)
        #: Calls in the order they started (the newest last), finished or not.
        self.started: collections.deque[Call] = collections.deque(maxlen=LOG_SIZE)
        self.active: set[Call] = set()
        self._media: asyncio.DatagramTransport | None = None
        self._media_port = 9
        self.host = "127.0.0.1"
        self.port = 0
        self.contact = ""

    @classmethod
    async def start(
        cls,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        domain: str = DEFAULT_DOMAIN,
        plan: NumberingPlan | None = None,
        tap: PcapTap | None = None,
        guard: bool = True,
    ) -> OperatorCore:
        """Listen on host:port (UDP and TCP; port 0 picks a free one) and serve."""
        clock = clock or RealClock()
        core = cls(clock, domain=domain, plan=plan)
        await core.stack.open(host, port, guard=FloodGuard(clock) if guard else None, tap=tap)
        core.host, core.port = core.stack.host, core.stack.port
        core.registrar.add_alias(core.host)
        bracketed = f"[{core.host}]" if ":" in core.host else core.host
        core.contact = f"<sip:core@{bracketed}:{core.port}>"
        loop = asyncio.get_running_loop()
        media, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(host, 0)
        )
        core._media = media
        core._media_port = media.get_extra_info("sockname")[1]
        return core

    @property
    def endpoint(self) -> SipEndpoint:
        return self.stack.endpoint

    @property
    def address(self) -> str:
        """Where SIP user agents register and send calls, as host:port."""
        return str(Peer(self.host, self.port))

    async def close(self) -> None:
        if self._media is not None:
            self._media.close()
        await self.stack.close()

    def resolver(self, host: str, port: int) -> Peer | None:
        """Where the lab's boxes reach a host: the core's domain (or address) is the core,
        whatever the port (as a DNS SRV record would say); other loopback addresses are
        themselves; nothing else is reachable."""
        if host.lower().rstrip(".") in (self.domain, self.host):
            return Peer(self.host, self.port)
        return loopback_only(host, port)

    # -- who the core serves ----------------------------------------------------------------

    def add_subscriber(
        self,
        subscriber: Subscriber,
        *,
        owner: CustomerLine | None = None,
        rules: Callable[[], ForwardingRules] = _no_rules,
    ) -> SipLine:
        """A SIP line (a box's VoIP line, or any external SIP phone) that may register."""
        self.registrar.add_subscriber(subscriber)
        line = SipLine(subscriber, owner, rules)
        self.lines[subscriber.number] = line
        return line

    def add_phone(
        self, number: str, behaviour: Behaviour | None = None, *, name: str = ""
    ) -> VirtualPhone:
        """A virtual phone on `number` (any kind and zone), answering by `behaviour`."""
        e164 = self.plan.classify(number).number
        if e164 in self.phones or e164 in self.lines:
            raise ValueError(f"{e164} already has a phone or a SIP line")
        phone = VirtualPhone(
            e164, self.clock, behaviour or Behaviour(), name=name, dialler=self.place_call
        )
        self.phones[e164] = phone
        if name:
            self.exchange.directory[e164] = name
        return phone

    def add_classic_line(
        self, line: ClassicLine, behaviour: Behaviour | None = None
    ) -> VirtualPhone:
        """A classic line on the exchange, with the analog phone plugged into its socket."""
        self.exchange.add_line(line)
        phone = VirtualPhone(
            line.number,
            self.clock,
            behaviour or Behaviour(),
            name=line.name,
            dialler=self.place_call,
        )
        self.classic_phones[line.number] = phone
        if line.name:
            self.exchange.directory[line.number] = line.name
        return phone

    def phone(self, number: str) -> VirtualPhone:
        """The virtual phone (or classic line phone) on a number."""
        e164 = self.plan.classify(number).number
        phone = self.phones.get(e164) or self.classic_phones.get(e164)
        if phone is None:
            raise KeyError(f"no virtual phone on {e164}")
        return phone

    # -- routing (the calls' Network) -------------------------------------------------------

    def destination(self, number: str) -> Destination:
        line = self.lines.get(number)
        if line is not None:
            return self._sip_destination(number, line)
        classic = self.exchange.line(number)
        if classic is not None:
            return self._classic_destination(classic)
        phone = self.phones.get(number)
        if phone is None:
            return Destination(number, open=None)
        return Destination(
            number, open=lambda call: PhoneAttempt(self, call, phone, call.caller, False)
        )

    def _sip_destination(self, number: str, line: SipLine) -> Destination:
        bindings = self.registrar.lookup(number)
        if not bindings:
            return Destination(
                number, open=_unreachable, rules=line.rules(), reachable=False, owner=line.owner
            )
        binding = bindings[0]
        return Destination(
            number,
            open=lambda call: SipAttempt(self, call, number, binding),
            rules=line.rules(),
            owner=line.owner,
        )

    def _classic_destination(self, classic: ClassicLine) -> Destination:
        phone = self.classic_phones[classic.number]
        return Destination(
            classic.number,
            open=lambda call: PhoneAttempt(
                self, call, phone, self._presented(classic, call.caller), classic.call_waiting
            ),
            rules=classic.transfer,
            down=not classic.up,
            continuity=classic.continuity,
            voicemail_after_s=classic.voicemail_after_s if classic.voicemail else None,
            owner=CustomerLine(classic.account, LineName.CLASSIC),
        )

    def _presented(self, line: ClassicLine, caller: str) -> str:
        return line.caller_display(caller, self.exchange.directory)

    def voicemail(self, call: Call, number: str) -> Attempt:
        return VoicemailAttempt(self, call, number)

    def media_offer(self) -> bytes:
        """An SDP body for the core's media sink (the lab carries signalling, not voice)."""
        return audio_offer(self.host, self._media_port)

    def finished(self, call: Call) -> None:
        self.active.discard(call)
        self.log.append(call)
        for record in call.records:
            for sink in self.record_sinks:
                sink(record)

    def soon(self, action: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_soon(action)

    # -- calls from virtual phones ----------------------------------------------------------

    def place_call(self, phone: VirtualPhone, dialled: str) -> Call:
        """A virtual phone dials: a service code on a classic line, or a call."""
        origin = PhoneOrigin(phone)
        classic = self.exchange.line(phone.number)
        owner = CustomerLine(classic.account, LineName.CLASSIC) if classic else None
        if classic is not None and dialled[:1] in ("*", "#"):
            outcome = classic.dial_code(dialled, self.clock.now())
            call = Call(self, origin, caller=phone.number, dialled=dialled, offer=b"")
            call.completed_service(list(outcome.records), outcome.announcement, outcome.accepted)
            self.soon(phone.released)
            return call
        try:
            number = self.plan.classify(dialled).number
        except ValueError:
            call = Call(self, origin, caller=phone.number, dialled=dialled, offer=b"")
            self.soon(lambda: call.refuse(484))
            self.active.add(call)
            self.started.append(call)
            return call
        call = Call(self, origin, caller=phone.number, dialled=number, offer=b"", caller_line=owner)
        self.active.add(call)
        self.started.append(call)
        self.soon(call.start)
        return call

    # -- SIP ---------------------------------------------------------------------------------

    def _on_request(
        self, request: Request, peer: Peer, transaction: ServerTransaction | None
    ) -> None:
        method = request.method
        if method == "ACK" or transaction is None:
            return  # an ACK to our 2xx: the transaction layer stopped its retransmissions
        rejection = check_request(request, methods=METHODS, media_types=MEDIA)
        if rejection is not None:
            self.respond(
                transaction,
                response_to(
                    request,
                    rejection.status,
                    rejection.reason,
                    to_tag=new_tag(),
                    headers=rejection.headers,
                ),
            )
            return
        if method == "REGISTER":
            self.respond(transaction, self.registrar.register(request, peer))
        elif method == "OPTIONS":
            self.respond(
                transaction,
                response_to(
                    request,
                    200,
                    to_tag=new_tag(),
                    headers=[("Allow", ALLOW), ("Accept", ", ".join(MEDIA))],
                ),
            )
        elif method == "INVITE":
            self._on_invite(request, transaction)
        elif method == "BYE":
            leg = self.dialogs.get(request.headers.get("Call-ID") or "")
            self.respond(transaction, response_to(request, 200 if leg else 481, to_tag=new_tag()))
            if leg is not None:
                leg.bye_received()
        elif method == "CANCEL":
            self._on_cancel(request, transaction)

    def _on_invite(self, request: Request, transaction: ServerTransaction) -> None:
        headers = request.headers
        call_id = headers.get("Call-ID") or ""
        existing = self.dialogs.get(call_id)
        if existing is not None:
            # A re-INVITE in a dialog the core holds: keep the session as it is.
            body = existing.answer if isinstance(existing, SipOrigin) else b""
            extra = [("Contact", self.contact)] + (
                [("Content-Type", "application/sdp")] if body else []
            )
            self.respond(transaction, response_to(request, 200, headers=extra, body=body))
            return
        to_tag = new_tag()
        subscriber = self._registered_caller(request, transaction.peer)
        if subscriber is None:
            # Challenged before any 100 Trying: pyVoIP 1.6.8 stops listening for a 401 once it
            # has a 100, and would wait for ever.
            subscriber, refusal = self.registrar.authenticate(request)
            if refusal is not None:
                self.respond(transaction, refusal)
                return
            assert subscriber is not None
        self.respond(transaction, response_to(request, 100))

        def refuse(status: int) -> None:
            refusal = response_to(request, final_status(request, status), to_tag=to_tag)
            self.respond(transaction, refusal)

        max_forwards = headers.get("Max-Forwards")
        if max_forwards is not None and int(max_forwards) <= 0:
            refuse(483)
            return
        try:
            dialled = self.plan.classify(request.uri.user or "").number
        except ValueError:
            refuse(484)
            return
        try:
            diversions = Diversions.from_headers(
                dialled, headers.get_all("History-Info"), headers.get_all("Diversion")
            )
        except ForwardingLoop:
            refuse(482)
            return
        except TooManyHops:
            refuse(483)
            return
        except ForwardingError:
            diversions = Diversions(dialled)  # a history we cannot read: the call starts afresh
        line = self.lines.get(subscriber.number)
        origin = SipOrigin(self, transaction, to_tag)
        call = Call(
            self,
            origin,
            caller=subscriber.number,
            dialled=dialled,
            offer=request.body,
            caller_line=line.owner if line else None,
            diversions=diversions,
        )
        origin.call = call
        transaction.context = origin
        self.dialogs[call_id] = origin
        self.active.add(call)
        self.started.append(call)
        call.start()

    def _registered_caller(self, request: Request, source: Peer) -> Subscriber | None:
        """The subscriber an INVITE without credentials comes from, when it comes from where
        that subscriber registered (the operator trusts its access network, as real cores
        do). pyVoIP 1.6.8 needs this: its answer to a 401 reuses the challenged INVITE's
        branch, which a transaction layer must take as a retransmission."""
        if request.headers.get("Authorization"):
            return None
        try:
            user = parse_name_addr(request.headers.get("From") or "").uri.user or ""
        except SipParseError:
            return None
        subscriber = self.registrar.subscriber(user) or self.registrar.by_user(user)
        if subscriber is None:
            return None
        for binding in self.registrar.lookup(subscriber.number):
            if binding.peer.address == source.address:
                return subscriber
        return None

    def _on_cancel(self, request: Request, transaction: ServerTransaction) -> None:
        invite = self.stack.transactions.invite_for_cancel(request)
        self.respond(transaction, response_to(request, 200 if invite else 481, to_tag=new_tag()))
        origin = invite.context if invite is not None else None
        if isinstance(origin, SipOrigin):
            origin.cancelled()

    # -- the transaction layer's I/O --------------------------------------------------------

    def send_request(
        self, request: Request, peer: Peer, context: TransactionUser | None
    ) -> ClientTransaction:
        return self.stack.send_request(request, peer, context)

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        self.stack.send_stateless(message, peer)

    def respond(self, transaction: ServerTransaction, response: Response) -> None:
        self.stack.respond(transaction, response)

    def forget_dialog(self, call_id: str, leg: object, *, linger: bool = False) -> None:
        if self.dialogs.get(call_id) is not leg:
            return
        if not linger:
            del self.dialogs[call_id]
            return

        def forget() -> None:
            if self.dialogs.get(call_id) is leg:
                del self.dialogs[call_id]

        self.clock.call_later(LINGER_S, forget)

    def _on_server_timeout(self, transaction: ServerTransaction) -> None:
        origin = transaction.context
        if isinstance(origin, SipOrigin) and origin.call is not None:
            origin.close()  # the caller never ACKed our answer: it is gone
            origin.call.caller_gave_up()


def _unreachable(call: Call) -> Attempt:  # pragma: no cover - routing checks `reachable` first
    raise RuntimeError("an unregistered line cannot be tried")
