"""The box's VoIP line: a SIP user agent registering with what its tree says, and its phone port."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from emulator.config import Change
from emulator.sip.compose import new_branch, new_call_id, new_tag, request, response_to
from emulator.sip.digest import Credentials, DigestError, parse_challenge, pick
from emulator.sip.headers import SipUri, parse_contact, parse_expires, parse_name_addr, parse_uri
from emulator.sip.message import Headers, Request, Response, SipParseError
from emulator.sip.peer import Peer, loopback_only
from emulator.sip.sdp import audio_offer
from emulator.sip.stack import SipStack
from emulator.sip.transaction import ServerTransaction, build_cancel
from emulator.telephony.phone import Behaviour, PhoneState, VirtualPhone
from profiles.clock import Timer

if TYPE_CHECKING:
    from emulator.box import EmulatedBox

log = logging.getLogger(__name__)

PROFILE: Final = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk."
SERVERS: Final = f"{PROFILE}SIP."
LINE: Final = f"{PROFILE}Line.LINE1."
#: The lab's own read-only parameter: why the line is not Up (shown as listTrunks' statusInfo).
STATUS_INFO: Final = f"{LINE}X_LIVEBOX-LAB_StatusInfo"
#: A registration is refreshed when this share of its lifetime has gone.
REFRESH_AT: Final = 0.5
SDP: Final = "application/sdp"
#: How many calls the box keeps in its call list.
CALL_LIST: Final = 100


@dataclass(frozen=True, slots=True)
class LineSettings:
    """What the tree says the line registers with (read by the box, secrets unmasked)."""

    enabled: bool
    number: str
    uri: str
    user: str
    password: str = field(repr=False)
    registrar: str
    registrar_port: int
    transport: str
    proxy: str
    proxy_port: int
    domain: str
    expires: int
    retry_s: int

    @classmethod
    def of(cls, box: EmulatedBox) -> LineSettings:
        value = box.config.value
        return cls(
            enabled=_enabled(box),
            number=value(f"{LINE}DirectoryNumber"),
            uri=value(f"{LINE}SIP.URI"),
            user=value(f"{LINE}SIP.AuthUserName"),
            password=value(f"{LINE}SIP.AuthPassword"),
            registrar=value(f"{SERVERS}RegistrarServer"),
            registrar_port=int(value(f"{SERVERS}RegistrarServerPort")),
            transport=value(f"{SERVERS}RegistrarServerTransport"),
            proxy=value(f"{SERVERS}ProxyServer") or value(f"{SERVERS}OutboundProxy"),
            proxy_port=int(value(f"{SERVERS}ProxyServerPort")),
            domain=value(f"{SERVERS}UserAgentDomain"),
            expires=int(value(f"{SERVERS}RegisterExpires")),
            retry_s=int(value(f"{SERVERS}RegisterRetryInterval")),
        )

    def problem(self) -> str | None:
        """Why the line cannot even try to register, or None."""
        if not self.registrar:
            return "no registrar server is set"
        if self.transport != "UDP":
            return f"transport {self.transport} is not supported by this box (UDP only)"
        return None

    @property
    def aor(self) -> str:
        """The address of record: the SIP URI, or one made from the number and the domain."""
        return self.uri or f"sip:{self.number}@{self.domain or self.registrar}"


#: Where a host name of the tree leads: a peer, or None when the lab cannot reach it.
Resolver = Callable[[str, int], Peer | None]


class VoipLine:
    """The box's internet phone line as a SIP user agent, and the analog phone on its port.

    It registers to the registrar its tree names, with the credentials provisioning wrote,
    again whenever a commit changes them, refreshes before expiry, and retries every
    `RegisterRetryInterval` after a failure. Its `status` (the tree's `Line.Status`) is Up only
    while registered; `info` says why when it is not. Calls to the line ring the `phone`;
    the phone dials out through the proxy, answering the proxy's digest challenge.
    """

    def __init__(self, box: EmulatedBox, host: str, resolve: Resolver = loopback_only) -> None:
        self.box = box
        self.resolve = resolve
        #: Where REGISTER and calls go, as resolved from the tree at the last apply.
        self.registrar: Peer | None = None
        self.proxy: Peer | None = None
        self.clock = box.clock
        self.host = host
        self.stack = SipStack(box.clock, self._on_request)
        self.status = "Disabled"
        self.info = ""
        self.settings: LineSettings | None = None
        self.phone = VirtualPhone("", box.clock, Behaviour(answer_after_s=None))
        self.phone.dialler = self._dial
        self.calls: dict[str, _LineCall] = {}
        #: The line's last calls, newest last, as the box's getCallList shows them.
        self.call_list: collections.deque[dict[str, object]] = collections.deque(maxlen=CALL_LIST)
        self._registration: _Registration | None = None
        self._timer: Timer | None = None
        self._endpoint_open: asyncio.Future[None] | None = None
        self._pending: asyncio.Future[None] | None = None
        self._changed_status = asyncio.Event()
        #: The last INVITE the network sent the line (to check History-Info, Diversion...).
        self.last_invite: Request | None = None

    async def start(self) -> None:
        """Follow the tree; the line's socket opens when the line is first enabled, so that
        a fleet of idle boxes holds no SIP sockets."""
        self.box.subscribe(self._changed)
        self.box.voip = self
        if _enabled(self.box):
            await self._open()
        self.apply()

    async def _open(self) -> None:
        if self._endpoint_open is None:
            self._endpoint_open = asyncio.ensure_future(
                self.stack.open(self.host, 0, tcp=False)  # the box speaks UDP to its registrar
            )
        await self._endpoint_open

    async def close(self) -> None:
        self._cancel_timer()
        self.box.config.unsubscribe(self._changed)
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        if self._endpoint_open is not None:
            if not self._endpoint_open.done():
                self._endpoint_open.cancel()
            await self.stack.close()

    @property
    def contact(self) -> str:
        user = self.settings.number if self.settings and self.settings.number else "line1"
        return f"<sip:{user}@{self.host}:{self.stack.port}>"

    # -- registration ---------------------------------------------------------------------

    def _changed(self, changes: list[Change]) -> None:
        if any(change.path.startswith(PROFILE) for change in changes):
            self.apply()

    def apply(self) -> None:
        """Read the tree and (re)register, or stop, as it says."""
        if self.settings is None and not _enabled(self.box):
            return  # never enabled yet: nothing to read (a fleet of idle boxes starts fast)
        settings = LineSettings.of(self.box)
        if settings == self.settings and self.status in ("Up", "Registering"):
            return
        previous, self.settings = self.settings, settings
        self.phone.number = settings.number
        self._cancel_timer()
        if self._registration is not None and previous is not None and self.status == "Up":
            # Remove the old binding first, as a phone does before it changes identity.
            self._registration.expires = 0
            self._registration.challenged = False
            self._registration.send(None)
        self._registration = None
        if not settings.enabled:
            self._set("Disabled", "")
            return
        problem = settings.problem()
        self.registrar = self.resolve(settings.registrar, settings.registrar_port)
        if problem is None and self.registrar is None:
            problem = f"cannot reach the registrar {settings.registrar}: unknown to the lab"
        proxy = self.resolve(settings.proxy, settings.proxy_port) if settings.proxy else None
        self.proxy = proxy or self.registrar
        if problem:
            self._set("Error", problem)
            return
        self._register()

    async def ready(self) -> None:
        """Return once what the last change started is under way: the line's socket open
        and its first REGISTER sent (for tests that then move simulated time)."""
        for step in (self._endpoint_open, self._pending):
            if step is not None:
                await step

    async def _register_when_open(self) -> None:
        await self._open()
        if self.settings is not None and self.settings.enabled and self.status == "Registering":
            self._register()

    def reregister(self) -> None:
        """Register again now, as after a reboot of the line (the settings unchanged)."""
        if self.settings is not None and self.settings.enabled and self.registrar is not None:
            self._cancel_timer()
            self._register()

    def _register(self) -> None:
        """Register, or refresh: a refresh keeps the Call-ID (RFC 3261 10.2.4)."""
        assert self.settings is not None
        if self.status != "Up":
            self._set("Registering", self.info)
        if self._endpoint_open is None or not self._endpoint_open.done():
            # The line was just enabled: register once its socket is open.
            self._pending = asyncio.ensure_future(self._register_when_open())
            return
        if self._registration is None:
            self._registration = _Registration(self, self.settings)
        self._registration.challenged = False
        self._registration.send(None)

    def registered(self, expires: int) -> None:
        self._set("Up", "")
        self._after(max(1.0, expires * REFRESH_AT), self._register)

    def refused(self, why: str, *, retry: bool = True) -> None:
        self._set("Error", why)
        if retry and self.settings is not None:
            self._after(self.settings.retry_s, self._register)

    def _set(self, status: str, info: str) -> None:
        if (status, info) != (self.status, self.info):
            log.info("%s: VoIP line %s%s", self.box.name, status, f" ({info})" if info else "")
        self.status, self.info = status, info
        self._changed_status.set()

    async def wait_for(self, status: str) -> None:
        """Return once the line's status is `status` (now or later)."""
        while self.status != status:
            self._changed_status.clear()
            await self._changed_status.wait()

    def _after(self, seconds: float, action: object) -> None:
        self._cancel_timer()
        self._timer = self.clock.call_later(seconds, action)  # type: ignore[arg-type]

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- calls ------------------------------------------------------------------------------

    def _dial(self, phone: VirtualPhone, number: str) -> _LineCall:
        call = _LineCall(self, new_call_id(self.host))
        # A phone sends the keys pressed: digits, and + * # (the spaces are the user's).
        call.place("".join(key for key in number if key.isdigit() or key in "+*#"))
        return call

    def _on_request(
        self, request: Request, peer: Peer, transaction: ServerTransaction | None
    ) -> None:
        call_id = request.headers.get("Call-ID") or ""
        call = self.calls.get(call_id)
        if request.method == "ACK" or transaction is None:
            return  # an ACK to our 2xx: the transaction layer stopped its retransmissions
        method = request.method
        if method == "INVITE" and call is None:
            _LineCall(self, call_id).offered(request, transaction)
        elif method == "INVITE" and call is not None:
            self.stack.respond(transaction, response_to(request, 200, body=call.local_sdp))
        elif method in ("BYE", "CANCEL") and call is not None:
            self.stack.respond(transaction, response_to(request, 200))
            call.ended_by_network(method)
        elif method == "OPTIONS":
            self.stack.respond(transaction, response_to(request, 200, to_tag=new_tag()))
        elif method in ("BYE", "CANCEL"):
            self.stack.respond(transaction, response_to(request, 481))
        else:
            self.stack.respond(transaction, response_to(request, 501, to_tag=new_tag()))

    def log_call(self, call: _LineCall) -> None:
        """Keep the call in the line's call list, as the box's getCallList shows it."""
        seconds = 0
        if call.connected_at is not None:
            seconds = round(self.clock.monotonic() - call.connected_at)
        answered = call.connected_at is not None
        self.call_list.append(
            {
                "callId": call.call_id,
                "remoteNumber": call.remote,
                "remoteName": "",
                "terminal": "FXS1",
                "startTime": call.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duration": seconds,
                "callType": "succeeded" if answered else "failed" if call.outgoing else "missed",
                "callOrigin": "local" if call.outgoing else "remote",
                "callDestination": call.remote if call.outgoing else self.phone.number,
                "trunkLineNumber": self.phone.number,
                "viewed": False,
            }
        )

    def media(self) -> bytes:
        """The phone port's SDP; port 9 (discard): the lab carries no voice."""
        return audio_offer(self.host, 9, origin="livebox")


class _Authenticated:
    """A request the line sends, answering one digest challenge with its credentials."""

    def __init__(self, line: VoipLine, settings: LineSettings) -> None:
        self.line = line
        self.settings = settings
        self.credentials = Credentials(settings.user, settings.password)
        self.cseq = 0
        self.challenged = False

    def authorization(self, response: Response, method: str, uri: str) -> str | None:
        """The Authorization value answering a 401, or None (already tried, or unusable)."""
        if self.challenged:
            return None
        self.challenged = True
        try:
            challenges = [parse_challenge(v) for v in response.headers.get_all("WWW-Authenticate")]
            return self.credentials.answer(pick(challenges), method=method, uri=uri)
        except (DigestError, SipParseError, ValueError):
            return None


class _Registration(_Authenticated):
    def __init__(self, line: VoipLine, settings: LineSettings) -> None:
        super().__init__(line, settings)
        self.call_id = new_call_id(line.host)
        self.tag = new_tag()
        #: 0 once the line unregisters this binding.
        self.expires = settings.expires

    def send(self, authorization: str | None) -> None:
        settings = self.settings
        self.cseq += 1
        fields = [
            ("Contact", self.line.contact),
            ("Expires", str(self.expires)),
            ("User-Agent", "Livebox pro (livebox-lab)"),
        ]
        if authorization:
            fields.append(("Authorization", authorization))
        register = request(
            "REGISTER",
            parse_uri(f"sip:{settings.domain or settings.registrar}"),
            via=self.line.stack.via("UDP", new_branch()),
            sender=f"<{settings.aor}>;tag={self.tag}",
            to=f"<{settings.aor}>",
            call_id=self.call_id,
            cseq=self.cseq,
            headers=fields,
        )
        assert self.line.registrar is not None
        self.line.stack.send_request(register, self.line.registrar, self)

    def on_response(self, response: Response) -> None:
        if response.status < 200:
            return
        status = response.status
        if self.expires == 0:  # unregistering: answer one challenge, ignore the rest
            if status == 401 and (authorization := self._answer(response)):
                self.send(authorization)
            return
        if self.line._registration is not self:
            return
        if status == 401:
            authorization = self._answer(response)
            if authorization:
                self.send(authorization)
            else:
                self.line.refused("the registrar kept asking for credentials: 401 Unauthorized")
        elif 200 <= status < 300:
            self.line.registered(self._granted(response))
        elif status == 403:
            self.line.refused("registration refused: 403 Forbidden (wrong user name or password?)")
        else:
            self.line.refused(f"registration refused: {status} {response.reason}")

    def _answer(self, response: Response) -> str | None:
        uri = f"sip:{self.settings.domain or self.settings.registrar}"
        return self.authorization(response, "REGISTER", uri)

    def on_timeout(self) -> None:
        if self.line._registration is self and self.expires:
            where = self.line.registrar
            self.line.refused(f"the registrar at {where} does not answer")

    def _granted(self, response: Response) -> int:
        """The lifetime the registrar granted our contact."""
        for value in response.headers.get_all("Contact"):
            try:
                contact = parse_contact(value)
            except SipParseError:
                continue
            if (
                contact != "*"
                and contact.expires is not None
                and contact.uri.port == self.line.stack.port
            ):
                return contact.expires
        expires = response.headers.get("Expires")
        return parse_expires(expires) if expires else self.settings.expires


class _LineCall(_Authenticated):
    """One call on the line's phone port, incoming or outgoing."""

    def __init__(self, line: VoipLine, call_id: str) -> None:
        super().__init__(line, line.settings or LineSettings.of(line.box))
        self.call_id = call_id
        self.local_sdp = line.media()
        self.invite: Request | None = None
        self.transaction: ServerTransaction | None = None
        self.peer = line.proxy or Peer(self.settings.registrar, self.settings.registrar_port)
        self.local_tag = new_tag()
        self.remote_tag: str | None = None
        self.remote_target: SipUri | None = None
        self.connected = False
        self.remote = ""
        self.outgoing = False
        self.started = line.clock.now()
        self.connected_at: float | None = None
        line.calls[call_id] = self

    # incoming
    def offered(self, invite: Request, transaction: ServerTransaction) -> None:
        self.invite, self.transaction = invite, transaction
        self.line.last_invite = invite
        self.peer = transaction.peer
        caller = parse_name_addr(invite.headers.get("From") or "<sip:anonymous@invalid>")
        self.remote_tag = caller.tag
        self.remote = caller.uri.user or "anonymous"
        self.remote_target = _contact_uri(invite.headers) or caller.uri
        self.line.stack.respond(transaction, response_to(invite, 100))
        if self.line.phone.offer(self, caller.uri.user or "anonymous"):
            self._answer(180)
        else:
            self._answer(486)
            self._forget()

    def answered_by_phone(self, phone: VirtualPhone) -> None:
        if self.transaction is not None and not self.connected:
            self.connected = True
            self.connected_at = self.line.clock.monotonic()
            self._answer(200, body=self.local_sdp)
            phone.connected()

    def rejected_by_phone(self, phone: VirtualPhone) -> None:
        if self.transaction is not None and not self.connected:
            self._answer(486)
            self._forget()

    def hung_up_by_phone(self, phone: VirtualPhone) -> None:
        if self.connected:
            self._send_bye()
        elif self.invite is not None and self.transaction is None:
            self.line.stack.send_request(build_cancel(self.invite), self.peer, None)
        elif self.transaction is not None:
            self._answer(480)
        self._forget()

    def ended_by_network(self, method: str) -> None:
        if method == "CANCEL" and self.transaction is not None and not self.connected:
            self._answer(487)
        self.line.phone.released()
        self._forget()

    def _answer(self, status: int, body: bytes = b"") -> None:
        assert self.invite is not None
        assert self.transaction is not None
        headers = [("Contact", self.line.contact)]
        if body:
            headers.append(("Content-Type", SDP))
        response = response_to(
            self.invite, status, to_tag=self.local_tag, headers=headers, body=body
        )
        self.line.stack.respond(self.transaction, response)

    # outgoing
    def place(self, number: str, authorization: str | None = None) -> None:
        settings = self.settings
        if self.line.status != "Up":
            self.line.clock.call_later(0, self.line.phone.released)
            self._forget()
            return
        self.cseq += 1
        domain = settings.domain or settings.registrar
        uri = f"sip:{number}@{domain}"
        fields = [("Contact", self.line.contact), ("Content-Type", SDP)]
        if authorization:
            fields.append(("Authorization", authorization))
        self.dialled = self.remote = number
        self.outgoing = True
        self.invite = request(
            "INVITE",
            parse_uri(uri),
            via=self.line.stack.via("UDP", new_branch()),
            sender=f"<{settings.aor}>;tag={self.local_tag}",
            to=f"<{uri}>",
            call_id=self.call_id,
            cseq=self.cseq,
            headers=fields,
            body=self.local_sdp,
        )
        self.line.stack.send_request(self.invite, self.peer, self)

    def on_response(self, response: Response) -> None:
        status = response.status
        phone = self.line.phone
        if status < 200:
            return
        if status < 300:
            self.remote_tag = parse_name_addr(response.headers.get("To") or "").tag
            self.remote_target = _contact_uri(response.headers)
            self.line.stack.send_stateless(self._in_dialog("ACK", self.cseq), self.peer)
            if not self.connected:
                self.connected = True
                self.connected_at = self.line.clock.monotonic()
                if phone.call is self:
                    phone.connected()
                else:
                    self._send_bye()
            return
        if status == 401 and self.invite is not None:
            authorization = self.authorization(response, "INVITE", str(self.invite.uri))
            if authorization:
                self.place(self.dialled, authorization)
                return
        if phone.call is self:
            phone.released()
        self._forget()

    def on_timeout(self) -> None:
        if self.line.phone.call is self:
            self.line.phone.released()
        self._forget()

    def _send_bye(self) -> None:
        self.cseq += 1
        self.line.stack.send_request(self._in_dialog("BYE", self.cseq), self.peer, None)

    def _in_dialog(self, method: str, cseq: int) -> Request:
        assert self.invite is not None
        headers = self.invite.headers
        if self.transaction is not None:  # the network called us: its From is the far end
            local = f"{headers.get('To')};tag={self.local_tag}"
            remote = headers.get("From") or ""
        else:
            local = headers.get("From") or ""
            remote = f"{headers.get('To')};tag={self.remote_tag}" if self.remote_tag else ""
            remote = remote or headers.get("To") or ""
        return request(
            method,
            self.remote_target or self.invite.uri,
            via=self.line.stack.via("UDP", new_branch()),
            sender=local,
            to=remote,
            call_id=self.call_id,
            cseq=cseq,
        )

    def _forget(self) -> None:
        if self.line.calls.pop(self.call_id, None) is self:
            self.line.log_call(self)


def _enabled(box: EmulatedBox) -> bool:
    value = box.config.value
    return value(f"{LINE}Enable") == "Enabled" and value(f"{PROFILE}Enable") != "Disabled"


def _contact_uri(headers: Headers) -> SipUri | None:
    value = headers.get("Contact")
    if not value:
        return None
    try:
        contact = parse_contact(value)
    except SipParseError:
        return None
    return None if contact == "*" else contact.uri


__all__ = ["LINE", "STATUS_INFO", "LineSettings", "PhoneState", "VoipLine"]
