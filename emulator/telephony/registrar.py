"""The operator core's registrar: subscribers, digest authentication and contact bindings."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Final, Literal, NamedTuple

from emulator.sip.compose import new_tag, response_to
from emulator.sip.digest import DigestAuthority
from emulator.sip.headers import (
    NameAddr,
    SipParseError,
    SipUri,
    parse_contact,
    parse_cseq,
    parse_expires,
    parse_name_addr,
)
from emulator.sip.message import Request, Response
from emulator.sip.peer import Peer
from profiles.clock import Clock

__all__ = ["Binding", "Registrar", "RegistrationChange", "Subscriber"]

_log = logging.getLogger(__name__)

_E164: Final = re.compile(r"\+[1-9][0-9]{1,14}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
# RFC 3261 19.1.4: these URI parameters must match when either URI carries them.
_SIGNIFICANT_PARAMS: Final = ("transport", "user", "ttl", "method", "maddr")
# Stale entries are left in the expiry heap; past this slack over the live bindings it is
# rebuilt, so that a flood of refreshes cannot grow it.
_HEAP_SLACK: Final = 32

_ContactKey = tuple[str | int | None, ...]


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A line of the operator: its E.164 number, the digest credentials that may use it."""

    number: str
    user: str
    password: str = field(repr=False)
    display: str = ""

    def __post_init__(self) -> None:
        if not _E164.fullmatch(self.number):
            raise ValueError(
                f"the subscriber number {self.number!r} is not E.164 ('+' and up to 15 digits)"
            )
        if not self.user or _CONTROL.search(self.user):
            raise ValueError(
                f"the digest user name {self.user!r} of {self.number} is empty or holds a "
                "control character"
            )
        if not self.password:
            raise ValueError(f"the subscriber {self.number} needs a non-empty password")


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of a number; `peer` is where the REGISTER came from.

    The lab reaches the line at `peer`, not at the Contact host: that is NAT-safe and it
    is where pyVoIP listens. `expires_at` is on the clock's monotonic time.
    """

    number: str
    contact: SipUri
    peer: Peer
    expires_at: float
    call_id: str
    cseq: int
    user_agent: str


class RegistrationChange(NamedTuple):
    """A number's bindings after they changed (empty: the line is down)."""

    number: str
    bindings: tuple[Binding, ...]


class _Refusal(Exception):
    """A REGISTER that must be answered with an error status; internal to `register`."""

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class _Register(NamedTuple):
    """What `register` reads from a REGISTER before it authenticates it."""

    aor: SipUri
    call_id: str
    cseq: int
    contacts: tuple[NameAddr | Literal["*"], ...]
    expires: int | None


class Registrar:
    """Holds the subscribers and their bindings, answers REGISTERs (RFC 3261 10.3).

    I/O-free: `register` and `authenticate` take parsed requests and return responses for
    the caller to send. Bindings expire when `expire` runs: at the start of every `register`,
    and whenever the caller's timer, set from `next_expiry`, calls it. `lookup` never shows
    an expired binding meanwhile. Not thread-safe: meant for one event loop.
    """

    def __init__(
        self,
        *,
        domain: str,
        clock: Clock,
        secret_key: bytes,
        min_expires: int = 60,
        max_expires: int = 7200,
        default_expires: int = 3600,
        max_bindings: int = 5,
    ) -> None:
        if not domain or _CONTROL.search(domain) or " " in domain:
            raise ValueError(f"the registrar domain {domain!r} is empty or holds blanks")
        if not 1 <= min_expires <= default_expires <= max_expires:
            raise ValueError(
                "the registration intervals must satisfy 1 <= min_expires <= default_expires "
                f"<= max_expires, not {min_expires}, {default_expires}, {max_expires}"
            )
        if max_bindings < 1:
            raise ValueError(f"a number must be allowed at least one binding, not {max_bindings}")
        self.domain = domain
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_bindings = max_bindings
        #: Host names taken as this domain: the domain, and the core's own addresses (pyVoIP
        #: puts the server address it was given in To, where a domain belongs).
        self._domain_keys = {domain.lower()}
        self._clock = clock
        self._by_number: dict[str, Subscriber] = {}
        self._by_user: dict[str, Subscriber] = {}
        # number -> contact key -> binding, oldest first: a refresh moves a binding to the end.
        self._bindings: dict[str, dict[_ContactKey, Binding]] = {}
        self._count = 0
        self._expiries: list[tuple[float, int, str, _ContactKey, Binding]] = []
        self._order = itertools.count()
        self._listeners: list[Callable[[RegistrationChange], None]] = []
        self.authority = DigestAuthority(
            realm=domain, secret_key=secret_key, clock=clock, password_of=self._password_of
        )

    def __repr__(self) -> str:
        return (
            f"Registrar(domain={self.domain!r}, subscribers={len(self._by_number)}, "
            f"bindings={self._count})"
        )

    def __len__(self) -> int:
        return self._count

    # Subscribers.

    def add_alias(self, host: str) -> None:
        """Take `host` (e.g. the core's own address) as another name of the domain."""
        self._domain_keys.add(host.lower())

    def add_subscriber(self, subscriber: Subscriber) -> None:
        """Open a line; its number and its digest user must both be new."""
        if subscriber.number in self._by_number:
            raise ValueError(f"the number {subscriber.number} already has a subscriber")
        if subscriber.user in self._by_user:
            taken = self._by_user[subscriber.user].number
            raise ValueError(f"the digest user {subscriber.user!r} is already used by {taken}")
        self._by_number[subscriber.number] = subscriber
        self._by_user[subscriber.user] = subscriber

    def remove_subscriber(self, number: str) -> None:
        """Close a line and drop its bindings (listeners hear it go down)."""
        subscriber = self._by_number.pop(number, None)
        if subscriber is None:
            raise ValueError(f"no subscriber has the number {number!r}")
        del self._by_user[subscriber.user]
        dropped = self._bindings.pop(number, None)
        if dropped:
            self._count -= len(dropped)
            self._notify([RegistrationChange(number, ())])

    def subscriber(self, number: str) -> Subscriber | None:
        return self._by_number.get(number)

    def by_user(self, user: str) -> Subscriber | None:
        return self._by_user.get(user)

    def _password_of(self, user: str) -> str | None:
        subscriber = self._by_user.get(user)
        return None if subscriber is None else subscriber.password

    def subscribe(self, listener: Callable[[RegistrationChange], None]) -> None:
        """Call `listener` after every registration, refresh, removal and expiry."""
        self._listeners.append(listener)

    # Authentication.

    def authenticate(self, request: Request) -> tuple[Subscriber | None, Response | None]:
        """Check a request's digest credentials (REGISTER, INVITE, BYE...).

        (subscriber, None) when they are good; else (None, the response to send): 401 with
        every challenge of the authority (stale=true for an old nonce) when credentials are
        missing, unreadable or stale, 403 for an unknown user or a wrong password.
        """
        verdict = self._authenticate(request)
        if isinstance(verdict, Response):
            return None, verdict
        return verdict, None

    def _authenticate(self, request: Request) -> Subscriber | Response:
        result = self.authority.verify(request.method, request.headers.get_all("Authorization"))
        if result.ok and result.username is not None:
            subscriber = self._by_user.get(result.username)
            if subscriber is not None:
                return subscriber
        if result.status == 401:
            challenges = [("WWW-Authenticate", c.to_header()) for c in result.challenges]
            return response_to(request, 401, to_tag=new_tag(), headers=challenges)
        # The same plain 403 for both causes, so that the answer tells no user names apart.
        return response_to(request, 403, to_tag=new_tag())

    # Registration.

    def register(self, request: Request, source: Peer) -> Response:
        """Answer a REGISTER that came from `source` (RFC 3261 10.3), updating the bindings."""
        if request.method != "REGISTER":
            raise ValueError(f"the registrar takes REGISTER requests, not {request.method}")
        self.expire()
        try:
            parts = _read_register(request)
            verdict = self._authenticate(request)
            if isinstance(verdict, Response):
                return verdict
            number = self._owned_number(parts.aor, verdict)
            if parts.contacts:
                self._update(number, parts, source, request.headers.get("User-Agent") or "")
        except _Refusal as refusal:
            return response_to(
                request, refusal.status, refusal.reason, to_tag=new_tag(), headers=refusal.headers
            )
        now = self._clock.monotonic()
        listed = [
            ("Contact", f"<{binding.contact}>;expires={_remaining(binding, now)}")
            for binding in self._current(number, now)
        ]
        listed.append(("Date", format_datetime(self._clock.now().astimezone(dt.UTC), usegmt=True)))
        return response_to(request, 200, to_tag=new_tag(), headers=listed)

    def _owned_number(self, aor: SipUri, subscriber: Subscriber) -> str:
        """The number the To AoR names, refused unless the authenticated user owns it."""
        if aor.scheme != "tel" and aor.host.lower() not in self._domain_keys:
            # RFC 3261 10.3 step 5: an AoR outside the domain is not ours to bind.
            raise _Refusal(404, "Not Found: the address of record is not in this domain")
        if aor.user != subscriber.number:
            raise _Refusal(403, "Forbidden: the user does not own this address of record")
        return subscriber.number

    def _update(self, number: str, parts: _Register, source: Peer, user_agent: str) -> None:
        """Apply a REGISTER's contacts all together, or none of them (RFC 3261 10.3 step 7)."""
        held = self._bindings.get(number, {})
        if "*" in parts.contacts:
            if len(parts.contacts) > 1:
                raise _Refusal(400, "Bad Request: Contact * must be the only Contact")
            if parts.expires != 0:
                raise _Refusal(400, "Bad Request: Contact * needs Expires: 0")
            for binding in held.values():
                _check_order(binding, parts)
            if held:
                del self._bindings[number]
                self._count -= len(held)
                self._notify([RegistrationChange(number, ())])
            return
        now = self._clock.monotonic()
        wanted: dict[_ContactKey, tuple[SipUri, int]] = {}
        for contact in parts.contacts:
            if isinstance(contact, str):
                continue  # '*', handled above
            expires = contact.expires
            if expires is None:
                expires = self.default_expires if parts.expires is None else parts.expires
            if 0 < expires < self.min_expires:
                raise _Refusal(
                    423,
                    f"Interval Too Brief: at least {self.min_expires} s",
                    (("Min-Expires", str(self.min_expires)),),
                )
            key = _contact_key(contact.uri)
            current = held.get(key)
            if current is not None:
                _check_order(current, parts)
            wanted.pop(key, None)  # a contact listed twice counts where it was last
            wanted[key] = (contact.uri, min(expires, self.max_expires))
        changed = False
        bindings = self._bindings.setdefault(number, {})
        for key, (uri, expires) in wanted.items():
            removed = bindings.pop(key, None)
            if removed is not None:
                self._count -= 1
                changed = True
            if expires == 0:
                continue
            binding = Binding(
                number, uri, source, now + expires, parts.call_id, parts.cseq, user_agent
            )
            bindings[key] = binding
            self._count += 1
            heapq.heappush(self._expiries, (now + expires, next(self._order), number, key, binding))
            changed = True
        while len(bindings) > self.max_bindings:
            del bindings[next(iter(bindings))]  # the least recently registered goes
            self._count -= 1
        if not bindings:
            del self._bindings[number]
        self._compact()
        if changed:
            self._notify([RegistrationChange(number, self._current(number, now))])

    # Reading and expiring bindings.

    def lookup(self, number: str) -> tuple[Binding, ...]:
        """The unexpired bindings of a number, the most recently registered first."""
        return self._current(number, self._clock.monotonic())

    def registered(self, number: str) -> bool:
        now = self._clock.monotonic()
        return any(b.expires_at > now for b in self._bindings.get(number, {}).values())

    def expire(self) -> list[RegistrationChange]:
        """Drop the bindings whose time is up; the changes, which listeners also hear."""
        now = self._clock.monotonic()
        touched: dict[str, None] = {}
        heap = self._expiries
        while heap and heap[0][0] <= now:
            _, _, number, key, binding = heapq.heappop(heap)
            bindings = self._bindings.get(number)
            if bindings is None or bindings.get(key) is not binding:
                continue  # refreshed or removed since
            del bindings[key]
            self._count -= 1
            if not bindings:
                del self._bindings[number]
            touched[number] = None
        changes = [RegistrationChange(number, self._current(number, now)) for number in touched]
        self._notify(changes)
        return changes

    def next_expiry(self) -> float | None:
        """When (on the clock's monotonic time) the next binding expires, None if none is held."""
        heap = self._expiries
        while heap:
            _, _, number, key, binding = heap[0]
            if self._bindings.get(number, {}).get(key) is binding:
                return binding.expires_at
            heapq.heappop(heap)
        return None

    def _current(self, number: str, now: float) -> tuple[Binding, ...]:
        bindings = self._bindings.get(number)
        if not bindings:
            return ()
        return tuple(b for b in reversed(bindings.values()) if b.expires_at > now)

    def _compact(self) -> None:
        if len(self._expiries) > 2 * self._count + _HEAP_SLACK:
            self._expiries = [
                entry
                for entry in self._expiries
                if self._bindings.get(entry[2], {}).get(entry[3]) is entry[4]
            ]
            heapq.heapify(self._expiries)

    def _notify(self, changes: list[RegistrationChange]) -> None:
        for change in changes:
            for listener in self._listeners:
                # The bindings are already committed: a failing listener must not stop the
                # others hearing of it, nor the line getting its answer.
                try:
                    listener(change)
                except Exception:
                    _log.exception("a registration listener failed on %s", change.number)


def _read_register(request: Request) -> _Register:
    """The parts of a REGISTER the registrar uses; a _Refusal(400) names a broken one."""
    headers = request.headers
    try:
        aor = parse_name_addr(headers.get("To") or "").uri
    except SipParseError:
        raise _Refusal(400, "Bad Request: missing or malformed To") from None
    call_id = headers.get("Call-ID")
    if not call_id:
        raise _Refusal(400, "Bad Request: missing Call-ID")
    try:
        cseq = parse_cseq(headers.get("CSeq") or "").seq
    except SipParseError:
        raise _Refusal(400, "Bad Request: missing or malformed CSeq") from None
    try:
        contacts = tuple(parse_contact(value) for value in headers.get_all("Contact"))
    except SipParseError:
        raise _Refusal(400, "Bad Request: malformed Contact") from None
    expires_value = headers.get("Expires")
    try:
        expires = None if expires_value is None else parse_expires(expires_value)
    except SipParseError:
        raise _Refusal(400, "Bad Request: malformed Expires") from None
    return _Register(aor, call_id, cseq, contacts, expires)


def _check_order(binding: Binding, parts: _Register) -> None:
    """Refuse a REGISTER older than the one that made `binding` (RFC 3261 10.3 step 7)."""
    if binding.call_id == parts.call_id and parts.cseq <= binding.cseq:
        raise _Refusal(
            500, f"Out Of Order: CSeq {parts.cseq} is not above {binding.cseq} for this Call-ID"
        )


def _contact_key(uri: SipUri) -> _ContactKey:
    """What makes two Contact URIs the same binding (RFC 3261 19.1.4, simplified).

    User and password compare case-sensitively, the host and the significant parameters
    without case; other parameters are ignored.
    """
    params = (uri.param(name) for name in _SIGNIFICANT_PARAMS)
    return (
        uri.scheme,
        uri.user,
        uri.password,
        uri.host.lower(),
        uri.port,
        *(None if value is None else value.lower() for value in params),
    )


def _remaining(binding: Binding, now: float) -> int:
    # Rounded to the millisecond first, so that float noise does not add a second.
    return max(0, math.ceil(round(binding.expires_at - now, 3)))
