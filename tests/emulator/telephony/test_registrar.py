"""The operator core's registrar: the box's VoIP line registers, refreshes, leaves and calls."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import pytest

from emulator.sip.digest import Challenge, Credentials, parse_challenge, pick
from emulator.sip.headers import parse_name_addr
from emulator.sip.message import Request, Response, parse
from emulator.sip.peer import Peer
from emulator.telephony.registrar import Binding, Registrar, RegistrationChange, Subscriber
from profiles.clock import SimulatedClock

DOMAIN = "core.livebox-lab"
KEY = b"registrar-test-key-32-bytes-long"
ACCUEIL = Subscriber("+33145000000", "+33145000000", "accueil-Secret-1", display="Accueil")
ATELIER = Subscriber("+33145000001", "atelier-line", "atelier-Secret-2")
BOX = Peer("192.0.2.10", 5062)
BOX_CONTACT = "<sip:+33145000000@192.0.2.10:5062;transport=UDP>"
DESK_CONTACT = "<sip:desk@192.0.2.11:5060>"


@pytest.fixture
def registrar(clock: SimulatedClock) -> Registrar:
    """The core with the two lines of the bundle open, nobody registered yet."""
    core = Registrar(domain=DOMAIN, clock=clock, secret_key=KEY)
    core.add_subscriber(ACCUEIL)
    core.add_subscriber(ATELIER)
    return core


def sip_request(
    method: str,
    number: str,
    *,
    cseq: int = 1,
    call_id: str = "reg-1@192.0.2.10",
    contacts: Sequence[str] = (BOX_CONTACT,),
    expires: int | str | None = None,
    to: str | None = None,
    extra: Sequence[str] = (),
) -> Request:
    """A request as a line sends it, parsed from its bytes."""
    uri = f"sip:{DOMAIN}" if method == "REGISTER" else f"sip:+33612345678@{DOMAIN}"
    lines = [
        f"{method} {uri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK7d1a0c;rport",
        "Max-Forwards: 70",
        f'From: "Line" <sip:{number}@{DOMAIN}>;tag=from-1',
        f"To: {to or f'<sip:{number}@{DOMAIN}>'}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        *(f"Contact: {contact}" for contact in contacts),
        "User-Agent: pyVoIP 1.6.8",
        *([] if expires is None else [f"Expires: {expires}"]),
        *extra,
        "Content-Length: 0",
    ]
    message = parse(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, Request)
    return message


def challenges_of(response: Response) -> list[Challenge]:
    return [parse_challenge(value) for value in response.headers.get_all("WWW-Authenticate")]


def signed(request: Request, challenge: Challenge, credentials: Credentials) -> Request:
    """The request again, with the Authorization answering `challenge`."""
    value = credentials.answer(challenge, method=request.method, uri=str(request.uri))
    return dataclasses.replace(request, headers=request.headers.add("Authorization", value))


def credentials_of(subscriber: Subscriber) -> Credentials:
    return Credentials(subscriber.user, subscriber.password)


class Line:
    """A line's REGISTER client: one Call-ID, a CSeq that grows, challenge then answer."""

    def __init__(
        self,
        subscriber: Subscriber,
        *,
        credentials: Credentials | None = None,
        call_id: str = "reg-1@192.0.2.10",
        source: Peer = BOX,
    ) -> None:
        self.number = subscriber.number
        self.credentials = credentials or credentials_of(subscriber)
        self.call_id = call_id
        self.cseq = 0
        self.source = source

    def register(self, core: Registrar, **options: object) -> Response:
        self.cseq += 1
        first = sip_request(
            "REGISTER",
            self.number,
            cseq=self.cseq,
            call_id=self.call_id,
            **options,  # type: ignore[arg-type]
        )
        challenge = core.register(first, self.source)
        assert challenge.status == 401, challenge
        self.cseq += 1
        second = dataclasses.replace(
            first, headers=first.headers.set("CSeq", f"{self.cseq} REGISTER")
        )
        return core.register(
            signed(second, pick(challenges_of(challenge)), self.credentials), self.source
        )


def contacts_of(response: Response) -> list[tuple[str, int | None]]:
    """The (URI, expires) pairs a 200 to a REGISTER lists."""
    listed = [parse_name_addr(value) for value in response.headers.get_all("Contact")]
    return [(str(contact.uri), contact.expires) for contact in listed]


# Challenge and credentials.


def test_register_without_credentials_is_challenged_md5_first(registrar: Registrar) -> None:
    response = registrar.register(sip_request("REGISTER", ACCUEIL.number), BOX)
    assert (response.status, response.reason) == (401, "Unauthorized")
    challenges = challenges_of(response)
    assert [c.algorithm for c in challenges] == ["MD5", "SHA-256"]
    assert {c.realm for c in challenges} == {DOMAIN}
    assert parse_name_addr(response.headers.get("To") or "").tag
    assert response.headers.get("Call-ID") == "reg-1@192.0.2.10"
    assert not registrar.registered(ACCUEIL.number)
    assert len(registrar) == 0


def test_line_registers_with_good_credentials(registrar: Registrar, clock: SimulatedClock) -> None:
    response = Line(ACCUEIL).register(registrar)
    assert (response.status, response.reason) == (200, "OK")
    assert contacts_of(response) == [("sip:+33145000000@192.0.2.10:5062;transport=UDP", 3600)]
    assert response.headers.get("Date") == "Mon, 05 Oct 2026 09:00:00 GMT"
    assert parse_name_addr(response.headers.get("To") or "").tag
    assert registrar.registered(ACCUEIL.number)
    (binding,) = registrar.lookup(ACCUEIL.number)
    assert binding == Binding(
        number=ACCUEIL.number,
        contact=binding.contact,
        peer=BOX,
        expires_at=clock.monotonic() + 3600,
        call_id="reg-1@192.0.2.10",
        cseq=2,
        user_agent="pyVoIP 1.6.8",
    )
    assert str(binding.contact) == "sip:+33145000000@192.0.2.10:5062;transport=UDP"
    assert len(registrar) == 1


def test_pyvoip_answer_without_qop_registers(registrar: Registrar) -> None:
    """pyVoIP 1.6.8 reads the first challenge (MD5) and answers in the RFC 2069 form."""
    first = sip_request("REGISTER", ACCUEIL.number, expires=120)
    md5 = challenges_of(registrar.register(first, BOX))[0]
    old_style = dataclasses.replace(md5, qop=())
    second = sip_request("REGISTER", ACCUEIL.number, cseq=2, expires=120)
    value = credentials_of(ACCUEIL).answer(
        old_style, method="REGISTER", uri=f"sip:{DOMAIN};transport=UDP"
    )
    assert "qop" not in value
    response = registrar.register(
        dataclasses.replace(second, headers=second.headers.add("Authorization", value)), BOX
    )
    assert response.status == 200
    assert contacts_of(response)[0][1] == 120


def test_line_with_a_user_name_other_than_its_number_registers(registrar: Registrar) -> None:
    response = Line(ATELIER).register(registrar, contacts=[DESK_CONTACT])
    assert response.status == 200
    assert registrar.lookup(ATELIER.number)[0].contact.user == "desk"


def test_wrong_password_is_forbidden(registrar: Registrar) -> None:
    line = Line(ACCUEIL, credentials=Credentials(ACCUEIL.user, "not-the-password"))
    response = line.register(registrar)
    assert (response.status, response.reason) == (403, "Forbidden")
    assert not response.headers.get_all("WWW-Authenticate")
    assert not registrar.registered(ACCUEIL.number)


def test_unknown_user_gets_the_same_403_as_a_wrong_password(registrar: Registrar) -> None:
    line = Line(ACCUEIL, credentials=Credentials("+33145999999", ACCUEIL.password))
    response = line.register(registrar)
    assert (response.status, response.reason) == (403, "Forbidden")
    assert len(registrar) == 0


def test_registering_the_other_lines_number_is_forbidden(registrar: Registrar) -> None:
    line = Line(ACCUEIL, credentials=credentials_of(ATELIER))
    response = line.register(registrar)
    assert response.status == 403
    assert "does not own this address of record" in response.reason
    assert not registrar.registered(ACCUEIL.number)
    assert not registrar.registered(ATELIER.number)


def test_address_of_record_in_another_domain_is_not_found(registrar: Registrar) -> None:
    response = Line(ACCUEIL).register(registrar, to=f"<sip:{ACCUEIL.number}@other.example>")
    assert response.status == 404
    assert "not in this domain" in response.reason
    assert len(registrar) == 0


@pytest.mark.parametrize(
    "to",
    [
        f"<sip:+33145000000@{DOMAIN};user=phone>",
        "<sip:+33145000000@CORE.Livebox-Lab>",
        "<tel:+33145000000>",
        f'"Accueil" <sip:+33145000000@{DOMAIN}>',
    ],
)
def test_address_of_record_forms_that_name_the_number(registrar: Registrar, to: str) -> None:
    assert Line(ACCUEIL).register(registrar, to=to).status == 200
    assert registrar.registered(ACCUEIL.number)


@pytest.mark.parametrize(
    "to", [f"<sip:0145000000@{DOMAIN}>", f"<sip:0033145000000@{DOMAIN}>", "<tel:+33-1-45000000>"]
)
def test_address_of_record_is_the_exact_e164_number(registrar: Registrar, to: str) -> None:
    response = Line(ACCUEIL).register(registrar, to=to)
    assert response.status == 403
    assert "address of record" in response.reason


async def test_stale_nonce_is_challenged_again_with_stale_true(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    first = sip_request("REGISTER", ACCUEIL.number)
    challenge = pick(challenges_of(registrar.register(first, BOX)))
    await clock.advance(registrar.authority.nonce_ttl_s + 1)
    late = sip_request("REGISTER", ACCUEIL.number, cseq=2)
    response = registrar.register(signed(late, challenge, credentials_of(ACCUEIL)), BOX)
    assert response.status == 401
    fresh = challenges_of(response)
    assert fresh
    assert all(c.stale for c in fresh)
    assert all(c.nonce != challenge.nonce for c in fresh)
    assert not registrar.registered(ACCUEIL.number)
    again = sip_request("REGISTER", ACCUEIL.number, cseq=3)
    answered = signed(again, pick(fresh), credentials_of(ACCUEIL))
    assert registrar.register(answered, BOX).status == 200


def test_replayed_register_is_challenged_again(registrar: Registrar) -> None:
    first = sip_request("REGISTER", ACCUEIL.number)
    challenge = pick(challenges_of(registrar.register(first, BOX)))
    good = signed(
        sip_request("REGISTER", ACCUEIL.number, cseq=2), challenge, credentials_of(ACCUEIL)
    )
    assert registrar.register(good, BOX).status == 200
    replayed = registrar.register(good, BOX)
    assert replayed.status == 401
    assert all(c.stale for c in challenges_of(replayed))


# Expiry and refresh.


async def test_binding_expires_when_its_time_is_up(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    heard: list[RegistrationChange] = []
    Line(ACCUEIL).register(registrar, expires=120)
    registrar.subscribe(heard.append)
    assert registrar.next_expiry() == 120
    await clock.advance(119)
    assert registrar.expire() == []
    assert registrar.registered(ACCUEIL.number)
    await clock.advance(1)
    assert not registrar.registered(ACCUEIL.number)
    assert registrar.lookup(ACCUEIL.number) == ()
    assert len(registrar) == 1  # held until expire() drops it
    assert registrar.expire() == [RegistrationChange(ACCUEIL.number, ())]
    assert heard == [RegistrationChange(ACCUEIL.number, ())]
    assert len(registrar) == 0
    assert registrar.next_expiry() is None


async def test_refresh_on_the_same_call_id_pushes_expiry_back(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, expires=120)
    await clock.advance(115)
    response = line.register(registrar, expires=120)
    assert contacts_of(response) == [("sip:+33145000000@192.0.2.10:5062;transport=UDP", 120)]
    (binding,) = registrar.lookup(ACCUEIL.number)
    assert (binding.expires_at, binding.cseq) == (235, 4)
    await clock.advance(10)
    assert registrar.expire() == []
    assert registrar.registered(ACCUEIL.number)
    assert registrar.next_expiry() == 235
    assert len(registrar) == 1


async def test_new_call_id_for_the_same_contact_replaces_its_binding(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    """pyVoIP starts every refresh on a new Call-ID, from CSeq 1 again after a restart."""
    Line(ACCUEIL, call_id="first@192.0.2.10").register(registrar, expires=120)
    await clock.advance(60)
    moved = Peer("198.51.100.7", 40000)
    response = Line(ACCUEIL, call_id="second@192.0.2.10", source=moved).register(
        registrar, expires=120
    )
    assert response.status == 200
    (binding,) = registrar.lookup(ACCUEIL.number)
    assert (binding.call_id, binding.peer, binding.expires_at) == ("second@192.0.2.10", moved, 180)


def test_contact_uri_compares_host_without_case(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, contacts=["<sip:+33145000000@Box.Example:5062;transport=udp>"])
    line.register(registrar, contacts=["<sip:+33145000000@box.example:5062;transport=UDP>"])
    assert len(registrar) == 1


def test_contact_with_another_port_is_another_binding(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, contacts=["<sip:+33145000000@192.0.2.10>"])
    response = line.register(registrar, contacts=["<sip:+33145000000@192.0.2.10:5060>"])
    assert len(contacts_of(response)) == 2


# How long a binding lasts.


@pytest.mark.parametrize(
    ("contact", "header", "granted"),
    [
        (f"{BOX_CONTACT};expires=600", 1800, 600),
        (BOX_CONTACT, 1800, 1800),
        (BOX_CONTACT, None, 3600),
        (f"{BOX_CONTACT};expires=86400", None, 7200),
        (BOX_CONTACT, 4294967295, 7200),
    ],
)
def test_contact_expires_beats_the_header_which_beats_the_default(
    registrar: Registrar, contact: str, header: int | None, granted: int
) -> None:
    response = Line(ACCUEIL).register(registrar, contacts=[contact], expires=header)
    assert contacts_of(response)[0][1] == granted
    assert registrar.next_expiry() == granted


@pytest.mark.parametrize(
    ("contact", "header"), [(BOX_CONTACT, 59), (f"{BOX_CONTACT};expires=1", 3600)]
)
def test_interval_under_min_expires_gets_423(
    registrar: Registrar, contact: str, header: int
) -> None:
    response = Line(ACCUEIL).register(registrar, contacts=[contact], expires=header)
    assert (response.status, response.reason) == (423, "Interval Too Brief: at least 60 s")
    assert response.headers.get("Min-Expires") == "60"
    assert not registrar.registered(ACCUEIL.number)


def test_423_leaves_the_other_contacts_of_the_request_unbound(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    response = line.register(registrar, contacts=[DESK_CONTACT, f"{BOX_CONTACT};expires=30"])
    assert response.status == 423
    assert len(registrar) == 0


# Leaving.


def test_line_unregisters_one_contact_with_expires_zero(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, contacts=[BOX_CONTACT, DESK_CONTACT])
    response = line.register(registrar, contacts=[f"{DESK_CONTACT};expires=0"])
    assert response.status == 200
    assert contacts_of(response) == [("sip:+33145000000@192.0.2.10:5062;transport=UDP", 3600)]
    assert len(registrar) == 1


def test_pyvoip_deregisters_with_expires_header_zero(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, expires=120)
    response = line.register(registrar, expires=0)
    assert response.status == 200
    assert contacts_of(response) == []
    assert not registrar.registered(ACCUEIL.number)
    assert registrar.next_expiry() is None


def test_star_removes_every_binding(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, contacts=[BOX_CONTACT, DESK_CONTACT])
    response = line.register(registrar, contacts=["*"], expires=0)
    assert response.status == 200
    assert response.headers.get_all("Contact") == ()
    assert len(registrar) == 0


@pytest.mark.parametrize(
    ("contacts", "expires", "reason"),
    [
        (["*"], None, "Bad Request: Contact * needs Expires: 0"),
        (["*"], 3600, "Bad Request: Contact * needs Expires: 0"),
        (["*", BOX_CONTACT], 0, "Bad Request: Contact * must be the only Contact"),
    ],
)
def test_star_needs_expires_zero_and_no_other_contact(
    registrar: Registrar, contacts: list[str], expires: int | None, reason: str
) -> None:
    line = Line(ACCUEIL)
    line.register(registrar)
    response = line.register(registrar, contacts=contacts, expires=expires)
    assert (response.status, response.reason) == (400, reason)
    assert registrar.registered(ACCUEIL.number)


# Order of requests.


def test_register_with_an_old_cseq_on_the_same_call_id_gets_500(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, expires=600)
    line.cseq = 0  # the CSeq goes back on the same Call-ID
    response = line.register(registrar, expires=0)
    assert response.status == 500
    assert response.reason == "Out Of Order: CSeq 2 is not above 2 for this Call-ID"
    assert registrar.registered(ACCUEIL.number)


def test_star_with_an_old_cseq_is_refused_too(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar)
    line.cseq = 0
    response = line.register(registrar, contacts=["*"], expires=0)
    assert response.status == 500
    assert "out of order" in response.reason.lower()
    assert registrar.registered(ACCUEIL.number)


def test_out_of_order_contact_aborts_the_whole_request(registrar: Registrar) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, contacts=[BOX_CONTACT])
    line.cseq = 0
    response = line.register(registrar, contacts=[DESK_CONTACT, BOX_CONTACT])
    assert response.status == 500
    assert [b.contact.user for b in registrar.lookup(ACCUEIL.number)] == ["+33145000000"]


# Queries, limits, listeners.


async def test_register_without_contact_lists_the_bindings_with_time_left(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    line = Line(ACCUEIL)
    line.register(registrar, contacts=[BOX_CONTACT], expires=600)
    await clock.advance(100)
    line.register(registrar, contacts=[DESK_CONTACT], expires=600)
    heard: list[RegistrationChange] = []
    registrar.subscribe(heard.append)
    await clock.advance(50)
    response = line.register(registrar, contacts=[])
    assert response.status == 200
    assert contacts_of(response) == [
        ("sip:desk@192.0.2.11:5060", 550),
        ("sip:+33145000000@192.0.2.10:5062;transport=UDP", 450),
    ]
    assert response.headers.get("Date") == "Mon, 05 Oct 2026 09:02:30 GMT"
    assert heard == []


def test_query_is_authenticated_too(registrar: Registrar) -> None:
    Line(ACCUEIL).register(registrar)
    response = registrar.register(sip_request("REGISTER", ACCUEIL.number, contacts=[]), BOX)
    assert response.status == 401
    assert response.headers.get_all("Contact") == ()


def test_more_than_max_bindings_drops_the_oldest(clock: SimulatedClock) -> None:
    core = Registrar(domain=DOMAIN, clock=clock, secret_key=KEY, max_bindings=2)
    core.add_subscriber(ACCUEIL)
    line = Line(ACCUEIL)
    for port in (5060, 5061, 5062):
        assert line.register(core, contacts=[f"<sip:phone@192.0.2.20:{port}>"]).status == 200
    assert [b.contact.port for b in core.lookup(ACCUEIL.number)] == [5062, 5061]
    line.register(core, contacts=["<sip:phone@192.0.2.20:5061>"])  # refreshed: newest again
    line.register(core, contacts=["<sip:phone@192.0.2.20:5063>"])
    assert [b.contact.port for b in core.lookup(ACCUEIL.number)] == [5063, 5061]
    assert len(core) == 2


async def test_listeners_hear_the_line_go_up_refresh_and_go_down(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    heard: list[RegistrationChange] = []
    registrar.subscribe(heard.append)
    line = Line(ACCUEIL)
    line.register(registrar, expires=120)
    await clock.advance(60)
    line.register(registrar, expires=120)
    line.register(registrar, expires=0)
    line.register(registrar, expires=120)
    await clock.advance(200)
    registrar.expire()
    states = [(change.number, [b.expires_at for b in change.bindings]) for change in heard]
    assert states == [
        (ACCUEIL.number, [120]),
        (ACCUEIL.number, [180]),
        (ACCUEIL.number, []),
        (ACCUEIL.number, [180]),
        (ACCUEIL.number, []),
    ]


def test_listeners_see_the_state_already_changed(registrar: Registrar) -> None:
    seen: list[bool] = []
    registrar.subscribe(lambda change: seen.append(registrar.registered(change.number)))
    line = Line(ACCUEIL)
    line.register(registrar)
    line.register(registrar, contacts=["*"], expires=0)
    assert seen == [True, False]


def test_removing_a_contact_that_is_not_bound_is_no_change(registrar: Registrar) -> None:
    heard: list[RegistrationChange] = []
    registrar.subscribe(heard.append)
    response = Line(ACCUEIL).register(registrar, expires=0)
    assert response.status == 200
    assert heard == []


def test_failing_listener_does_not_stop_the_others_nor_the_answer(
    registrar: Registrar, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[RegistrationChange] = []

    def broken(change: RegistrationChange) -> None:
        raise RuntimeError("display unplugged")

    registrar.subscribe(broken)
    registrar.subscribe(heard.append)
    with caplog.at_level(logging.ERROR):
        assert Line(ACCUEIL).register(registrar).status == 200
    assert len(heard) == 1
    assert "a registration listener failed on +33145000000" in caplog.text


async def test_expire_reports_each_number_once(registrar: Registrar, clock: SimulatedClock) -> None:
    Line(ACCUEIL).register(registrar, contacts=[BOX_CONTACT, DESK_CONTACT], expires=120)
    Line(ATELIER).register(registrar, contacts=[DESK_CONTACT], expires=300)
    assert registrar.next_expiry() == 120
    await clock.advance(120)
    assert registrar.expire() == [RegistrationChange(ACCUEIL.number, ())]
    assert registrar.next_expiry() == 300
    assert registrar.registered(ATELIER.number)


async def test_register_drops_expired_bindings_first(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    Line(ATELIER).register(registrar, contacts=[DESK_CONTACT], expires=120)
    heard: list[RegistrationChange] = []
    registrar.subscribe(heard.append)
    await clock.advance(121)
    Line(ACCUEIL).register(registrar)
    assert [change.number for change in heard] == [ATELIER.number, ACCUEIL.number]
    assert len(registrar) == 1


# Bounded memory.


def test_a_flood_of_refreshes_keeps_one_binding_and_a_bounded_timer_heap(
    registrar: Registrar,
) -> None:
    line = Line(ACCUEIL)
    for _ in range(500):
        assert line.register(registrar).status == 200
    assert len(registrar) == 1
    assert len(registrar._expiries) <= 2 * len(registrar) + 32


def test_a_flood_of_unauthenticated_registers_keeps_nothing(registrar: Registrar) -> None:
    for cseq in range(1, 1001):
        request = sip_request("REGISTER", ACCUEIL.number, cseq=cseq, call_id=f"{cseq}@flood")
        assert registrar.register(request, BOX).status == 401
    assert len(registrar) == 0
    assert registrar.authority.tracked_nonces == 0
    assert registrar.next_expiry() is None


# Requests the registrar cannot read.


@pytest.mark.parametrize(
    ("extra", "contacts", "reason"),
    [
        (["Expires: soon"], [BOX_CONTACT], "Bad Request: malformed Expires"),
        ([], ["<mailto:box@example.com>"], "Bad Request: malformed Contact"),
        ([], [f"{BOX_CONTACT};expires=never"], "Bad Request: malformed Contact"),
    ],
)
def test_unreadable_register_gets_400_naming_the_header(
    registrar: Registrar, extra: list[str], contacts: list[str], reason: str
) -> None:
    request = sip_request("REGISTER", ACCUEIL.number, contacts=contacts, extra=extra)
    response = registrar.register(request, BOX)
    assert (response.status, response.reason) == (400, reason)


def test_register_takes_only_register_requests(registrar: Registrar) -> None:
    with pytest.raises(ValueError, match="takes REGISTER requests, not INVITE"):
        registrar.register(sip_request("INVITE", ACCUEIL.number), BOX)


# Authenticating calls.


def test_invite_without_credentials_is_challenged(registrar: Registrar) -> None:
    subscriber, response = registrar.authenticate(sip_request("INVITE", ACCUEIL.number))
    assert subscriber is None
    assert response is not None
    assert response.status == 401
    assert response.headers.get("CSeq") == "1 INVITE"
    assert [c.algorithm for c in challenges_of(response)] == ["MD5", "SHA-256"]
    assert parse_name_addr(response.headers.get("To") or "").tag


def test_invite_with_good_credentials_names_the_subscriber(registrar: Registrar) -> None:
    _, challenge = registrar.authenticate(sip_request("INVITE", ATELIER.number))
    assert challenge is not None
    invite = signed(
        sip_request("INVITE", ATELIER.number, cseq=2),
        pick(challenges_of(challenge)),
        credentials_of(ATELIER),
    )
    assert registrar.authenticate(invite) == (ATELIER, None)


def test_invite_with_a_wrong_password_is_forbidden(registrar: Registrar) -> None:
    _, challenge = registrar.authenticate(sip_request("BYE", ATELIER.number))
    assert challenge is not None
    bye = signed(
        sip_request("BYE", ATELIER.number, cseq=2),
        pick(challenges_of(challenge)),
        Credentials(ATELIER.user, "guess"),
    )
    subscriber, response = registrar.authenticate(bye)
    assert subscriber is None
    assert response is not None
    assert (response.status, response.reason) == (403, "Forbidden")


def test_credentials_for_register_do_not_authenticate_an_invite(registrar: Registrar) -> None:
    _, challenge = registrar.authenticate(sip_request("INVITE", ACCUEIL.number))
    assert challenge is not None
    register_answer = credentials_of(ACCUEIL).answer(
        pick(challenges_of(challenge)), method="REGISTER", uri=f"sip:{DOMAIN}"
    )
    invite = sip_request("INVITE", ACCUEIL.number, extra=[f"Authorization: {register_answer}"])
    subscriber, response = registrar.authenticate(invite)
    assert subscriber is None
    assert response is not None
    assert response.status == 403


async def test_invite_on_a_stale_nonce_is_challenged_with_stale_true(
    registrar: Registrar, clock: SimulatedClock
) -> None:
    _, challenge = registrar.authenticate(sip_request("INVITE", ACCUEIL.number))
    assert challenge is not None
    await clock.advance(registrar.authority.nonce_ttl_s + 1)
    invite = signed(
        sip_request("INVITE", ACCUEIL.number, cseq=2),
        pick(challenges_of(challenge)),
        credentials_of(ACCUEIL),
    )
    subscriber, response = registrar.authenticate(invite)
    assert subscriber is None
    assert response is not None
    assert response.status == 401
    assert all(c.stale for c in challenges_of(response))


# Subscribers and settings.


def test_subscribers_are_found_by_number_and_by_digest_user(registrar: Registrar) -> None:
    assert registrar.subscriber(ATELIER.number) is ATELIER
    assert registrar.by_user("atelier-line") is ATELIER
    assert registrar.subscriber("+33145999999") is None
    assert registrar.by_user(ATELIER.number) is None
    assert "atelier-Secret-2" not in repr(ATELIER)
    assert registrar.authority.realm == registrar.domain == DOMAIN


def test_a_number_or_user_is_given_once(registrar: Registrar) -> None:
    with pytest.raises(ValueError, match=r"the number \+33145000000 already has a subscriber"):
        registrar.add_subscriber(Subscriber(ACCUEIL.number, "someone-else", "pw"))
    with pytest.raises(ValueError, match="'atelier-line' is already used by \\+33145000001"):
        registrar.add_subscriber(Subscriber("+33145000009", "atelier-line", "pw"))


def test_closing_a_line_drops_its_bindings_and_its_credentials(registrar: Registrar) -> None:
    heard: list[RegistrationChange] = []
    Line(ACCUEIL).register(registrar)
    registrar.subscribe(heard.append)
    registrar.remove_subscriber(ACCUEIL.number)
    assert heard == [RegistrationChange(ACCUEIL.number, ())]
    assert len(registrar) == 0
    assert registrar.next_expiry() is None
    assert registrar.by_user(ACCUEIL.user) is None
    assert Line(ACCUEIL).register(registrar).status == 403
    with pytest.raises(ValueError, match=r"no subscriber has the number '\+33145000000'"):
        registrar.remove_subscriber(ACCUEIL.number)


@pytest.mark.parametrize(
    ("number", "user", "password", "message"),
    [
        ("0145000000", "u", "pw", "'0145000000' is not E.164"),
        ("+0145000000", "u", "pw", "is not E.164"),
        ("+3314500000012345", "u", "pw", "is not E.164"),
        ("+33145000000", "", "pw", "digest user name '' of \\+33145000000 is empty"),
        ("+33145000000", "a\nb", "pw", "holds a control character"),
        ("+33145000000", "u", "", "needs a non-empty password"),
    ],
)
def test_subscriber_needs_an_e164_number_a_user_and_a_password(
    number: str, user: str, password: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Subscriber(number, user, password)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"domain": ""}, "domain '' is empty"),
        ({"min_expires": 0}, "1 <= min_expires"),
        ({"default_expires": 30}, "not 60, 30, 7200"),
        ({"max_expires": 600}, "not 60, 3600, 600"),
        ({"max_bindings": 0}, "at least one binding, not 0"),
        ({"secret_key": b"short"}, "at least 16 bytes"),
    ],
)
def test_registrar_settings_are_checked(
    clock: SimulatedClock, settings: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"domain": DOMAIN, "clock": clock, "secret_key": KEY}
    arguments.update(settings)
    with pytest.raises(ValueError, match=message):
        Registrar(**arguments)  # type: ignore[arg-type]
