"""The parser against RFC 4475's torture messages, the PROTOS c07-sip suite and a fuzz run.

The corpora are not part of the repository: they sit in the shared corpora folder next to
it, and the tests that need them are skipped, saying why, when it is absent. Their files
are read as bytes, never decoded or normalised.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import random
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.sip.message import (
    MAX_TCP_MESSAGE,
    NameAddr,
    Rejection,
    Request,
    Response,
    SipParseError,
    check_request,
    check_response,
    parse,
    parse_contact,
    parse_cseq,
    parse_expires,
    parse_max_forwards,
    parse_media_type,
    parse_name_addr,
    parse_uri,
    parse_via,
    serialize,
    split_stream,
)

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "corpora" / "sip"
RFC4475 = CORPUS / "rfc4475"
PROTOS = CORPUS / "protos-c07" / "c07-sip-cases.tar.gz"

needs_rfc4475 = pytest.mark.skipif(
    not (RFC4475 / "INDEX.tsv").is_file(),
    reason="RFC 4475 corpus absent: expected shared/corpora/sip/rfc4475 next to the repository",
)
needs_protos = pytest.mark.skipif(
    not PROTOS.is_file(),
    reason="PROTOS c07-sip corpus absent: expected shared/corpora/sip/protos-c07 next to"
    " the repository",
)

# What an endpoint of the lab would do: the methods it implements and the bodies it takes.
ENDPOINT_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "MESSAGE")
ENDPOINT_MEDIA = ("application/sdp", "multipart/mixed", "text/plain")


def endpoint_check(request: Request, *, proxy: bool = False) -> Rejection | None:
    return check_request(request, methods=ENDPOINT_METHODS, media_types=ENDPOINT_MEDIA, proxy=proxy)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happens to one torture message.

    `accept`: parses and passes the checks; `check`: parses, check_request refuses it with
    `status`; `reject`: parse raises SipParseError with `status` (answered when
    `answer`); `drop`: a response that parses but check_response says to drop.
    """

    kind: str
    status: int | None = None
    answer: bool = True


ACCEPT = Outcome("accept")

# One row per file of INDEX.tsv. Where the RFC allows a choice, the strict one is taken.
OUTCOMES: dict[str, Outcome] = {
    "wsinv.dat": ACCEPT,
    "intmeth.dat": Outcome("check", 501),  # unknown method at an endpoint
    "esc01.dat": ACCEPT,
    "escnull.dat": ACCEPT,
    "esc02.dat": Outcome("check", 501),  # RE%47IST%45R is not REGISTER
    "lwsdisp.dat": ACCEPT,
    "longreq.dat": ACCEPT,
    "dblreq.dat": ACCEPT,  # the REGISTER; the trailing INVITE-like octets are ignored
    "semiuri.dat": ACCEPT,
    "transports.dat": ACCEPT,
    "mpart01.dat": ACCEPT,
    "unreason.dat": ACCEPT,
    "noreason.dat": ACCEPT,
    "badinv01.dat": Outcome("reject", 400),  # empty elements in the Via list
    "clerr.dat": Outcome("reject", 400),  # Content-Length beyond the datagram
    "ncl.dat": Outcome("reject", 400),  # negative Content-Length
    "scalar02.dat": Outcome("check", 400),  # CSeq above 2**32-1
    "scalarlg.dat": Outcome("drop"),  # response with CSeq above 2**32-1
    "quotbal.dat": Outcome("check", 400),  # unterminated quoted display name
    "ltgtruri.dat": Outcome("reject", 400),  # <> around the Request-URI
    "lwsruri.dat": Outcome("reject", 400),  # space inside the Request-URI
    "lwsstart.dat": Outcome("reject", 400),  # two SP between request-line elements
    "trws.dat": Outcome("reject", 400),  # SP at the end of the request line
    "escruri.dat": Outcome("check", 400),  # headers in the Request-URI
    "baddate.dat": ACCEPT,  # Date is ignored
    "regbadct.dat": Outcome("check", 400),  # URI with '?' outside <> in Contact
    "badaspec.dat": Outcome("check", 400),  # spaces inside <>
    "baddn.dat": Outcome("check", 400),  # unquoted display name with a comma
    "badvers.dat": Outcome("check", 505),
    "mismatch01.dat": Outcome("check", 400),  # CSeq method differs
    "mismatch02.dat": Outcome("check", 501),  # unknown method, 501 rather than 400
    "bigcode.dat": Outcome("reject", 400, answer=False),  # a response: dropped
    "badbranch.dat": ACCEPT,  # the transaction layer falls back to RFC 2543 matching
    "insuf.dat": Outcome("check", 400),  # no From, To, Call-ID
    "unkscm.dat": Outcome("reject", 416),
    "novelsc.dat": Outcome("reject", 416),
    "unksm2.dat": Outcome("check", 400),  # From and To must be sip, sips or tel here
    "bext01.dat": Outcome("check", 420),
    "invut.dat": Outcome("check", 415),
    "regaut01.dat": ACCEPT,  # the registrar answers the unknown scheme with 401
    "multi01.dat": Outcome("check", 400),
    "mcl01.dat": Outcome("reject", 400),  # two Content-Length
    "bcast.dat": ACCEPT,  # parses; forwarding decisions belong to the transport
    "zeromf.dat": ACCEPT,  # an endpoint processes it; a proxy answers 483 (tested below)
    "cparam01.dat": ACCEPT,
    "cparam02.dat": ACCEPT,
    "regescrt.dat": ACCEPT,
    "sdp01.dat": Outcome("check", 406),
    "inv2543.dat": ACCEPT,  # RFC 4475 3.4.1: accept for backward compatibility
    "test.dat": Outcome("reject", 400, answer=False),  # no SIP-Version, no Via
}


def index_rows() -> list[dict[str, str]]:
    with (RFC4475 / "INDEX.tsv").open(newline="", encoding="utf-8") as index:
        return list(csv.DictReader(index, delimiter="\t"))


def torture(name: str) -> bytes:
    return (RFC4475 / name).read_bytes()


def torture_request(name: str) -> Request:
    parsed = parse(torture(name))
    assert isinstance(parsed, Request)
    return parsed


def torture_response(name: str) -> Response:
    parsed = parse(torture(name))
    assert isinstance(parsed, Response)
    return parsed


@needs_rfc4475
def test_every_row_of_the_index_has_an_expected_outcome() -> None:
    rows = index_rows()

    assert {row["file"] for row in rows} == set(OUTCOMES)
    for row in rows:
        outcome = OUTCOMES[row["file"]]
        if outcome.status not in (None, 400):
            assert str(outcome.status) in row["rfc_expected"], row["file"]


@needs_rfc4475
@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_torture_message_gets_its_expected_outcome(name: str) -> None:
    outcome = OUTCOMES[name]
    if outcome.kind == "reject":
        with pytest.raises(SipParseError) as caught:
            parse(torture(name))
        assert caught.value.status == outcome.status
        assert caught.value.respond_400 is outcome.answer
        return
    parsed = parse(torture(name))
    if isinstance(parsed, Response):
        reason = check_response(parsed)
        assert (reason is not None) is (outcome.kind == "drop"), reason
        return
    rejection = endpoint_check(parsed)
    if outcome.kind == "accept":
        assert rejection is None, rejection
    else:
        assert outcome.kind == "check"
        assert rejection is not None
        assert rejection.status == outcome.status, rejection


@needs_rfc4475
def test_invalid_rows_are_refused_except_the_rfc_2543_invite_the_rfc_accepts() -> None:
    invalid = {row["file"] for row in index_rows() if row["class"] == "invalid"}

    refused = {name for name in invalid if OUTCOMES[name].kind != "accept"}
    assert invalid - refused == {"inv2543.dat"}


@needs_rfc4475
def test_wsinv_folding_and_odd_whitespace() -> None:
    request = torture_request("wsinv.dat")
    headers = request.headers

    assert request.uri.param("unknownparam") is None
    assert request.uri.has_param("unknownparam")
    to = parse_name_addr(headers.get("To") or "")
    assert (to.uri.user, to.tag) == ("vivekg", "1918181833n")
    sender = parse_name_addr(headers.get("From") or "")
    assert (sender.display, sender.tag) == ('J Rosenberg \\"', "98asjd8")
    assert parse_max_forwards(headers.get("Max-Forwards") or "") == 68
    assert parse_cseq(headers.get("CSeq") or "").seq == 9
    vias = [parse_via(value) for value in headers.get_all("Via")]
    assert [(via.transport, via.host, via.branch) for via in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert headers.get("Subject") == ""
    assert headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    contact = parse_contact(headers.get("Contact") or "")
    assert isinstance(contact, NameAddr)
    assert contact.display == 'Quoted string ""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert len(request.body) == 150


@needs_rfc4475
def test_intmeth_unknown_method_made_of_odd_token_characters() -> None:
    request = torture_request("intmeth.dat")

    assert request.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert request.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert request.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert parse_cseq(request.headers.get("CSeq") or "").method == request.method
    to = parse_name_addr(request.headers.get("To") or "")
    assert to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    sender = parse_name_addr(request.headers.get("From") or "")
    assert sender.display == "token1~` token2'+_ token3*%!.-"
    assert sender.tag == "_token~1'+`*%!-."
    assert request.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert request.headers.get("Call-ID") == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


@needs_rfc4475
def test_esc01_escapes_decoded_only_where_the_grammar_allows() -> None:
    request = torture_request("esc01.dat")

    assert request.uri.user == "sips:user@example.com"
    assert request.uri.host == "example.net"
    assert parse_name_addr(request.headers.get("To") or "").uri.user == "user"
    assert parse_name_addr(request.headers.get("From") or "").uri.user == "I have spaces"
    contact = parse_name_addr(request.headers.get("Contact") or "")
    assert contact.uri.user == "caller"
    assert contact.uri.params == (("lr", None), ("name", "value%41"))


@needs_rfc4475
def test_escnull_user_part_not_truncated_at_escaped_nul() -> None:
    request = torture_request("escnull.dat")

    assert parse_name_addr(request.headers.get("To") or "").uri.user == "null-\x00-null"
    users = [parse_name_addr(value).uri.user for value in request.headers.get_all("Contact")]
    assert users == ["\x00", "\x00\x00"]


@needs_rfc4475
def test_esc02_escaped_method_is_not_register() -> None:
    request = torture_request("esc02.dat")

    assert request.method == "RE%47IST%45R"
    assert request.method != "REGISTER"
    assert parse_name_addr(request.headers.get("To") or "").display == "%Z%45"
    # C%6Fntact is an unknown header of its own, not a Contact.
    assert len(request.headers.get_all("Contact")) == 2
    assert request.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert parse_via(request.headers.get("Via") or "").branch == "z9hG4bK209%fzsnel234"


@needs_rfc4475
def test_lwsdisp_display_name_without_space_before_angle() -> None:
    sender = parse_name_addr(torture_request("lwsdisp.dat").headers.get("From") or "")

    assert (sender.display, sender.uri.user, sender.tag) == ("caller", "caller", "323")


@needs_rfc4475
def test_longreq_long_values_are_kept_whole() -> None:
    request = torture_request("longreq.dat")

    to = parse_name_addr(request.headers.get("To") or "")
    assert to.display is not None
    assert to.display.startswith("I have a user name of extremeextreme")
    assert to.uri.port == 6000
    assert len(to.uri.params) == 3
    sender = parse_name_addr(request.headers.get("From") or "")
    assert sender.tag == "1" + "298" * 50 + "2424"
    assert len(request.headers.get_all("Via")) == 34
    assert (
        request.headers.get(
            "Call-ID",
        )
        == "longreq.one" + "really" * 20 + "longcallid"
    )


@needs_rfc4475
def test_dblreq_only_the_register_is_handled() -> None:
    request = torture_request("dblreq.dat")

    assert request.method == "REGISTER"
    assert request.body == b""
    assert request.headers.get("Call-ID") == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


@needs_rfc4475
def test_semiuri_user_part_holds_semicolon_parameters() -> None:
    request = torture_request("semiuri.dat")

    assert request.uri.user == "user;par=u@example.net"
    assert request.uri.host == "example.com"
    assert request.uri.params == ()
    assert request.headers.get_all("Accept") == (
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    )


@needs_rfc4475
def test_transports_known_and_unknown() -> None:
    vias = [parse_via(value) for value in torture_request("transports.dat").headers.get_all("Via")]

    assert [via.transport for via in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


@needs_rfc4475
def test_mpart01_binary_body_is_kept_byte_for_byte() -> None:
    data = torture("mpart01.dat")
    request = torture_request("mpart01.dat")

    assert request.body == data[-553:]
    assert b"\x00" in request.body
    assert parse_via(request.headers.get("Via") or "").wants_rport
    assert serialize(request).endswith(request.body)


@needs_rfc4475
def test_unreason_utf8_reason_phrase() -> None:
    response = torture_response("unreason.dat")

    assert response.status == 200
    assert response.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


@needs_rfc4475
def test_noreason_empty_reason_phrase() -> None:
    response = torture_response("noreason.dat")

    assert (response.status, response.reason) == (100, "")


@needs_rfc4475
def test_contact_parameter_and_uri_parameter_are_told_apart() -> None:
    bare = parse_name_addr(torture_request("cparam01.dat").headers.get("Contact") or "")
    enclosed = parse_name_addr(torture_request("cparam02.dat").headers.get("Contact") or "")
    escaped = parse_name_addr(torture_request("regescrt.dat").headers.get("Contact") or "")

    assert (bare.params, bare.uri.params) == ((("unknownparam", None),), ())
    assert (enclosed.params, enclosed.uri.params) == ((), (("unknownparam", None),))
    assert escaped.uri.headers == (("Route", "<sip:sip.example.com>"),)


@needs_rfc4475
def test_zeromf_is_processed_by_an_endpoint_and_refused_by_a_proxy() -> None:
    request = torture_request("zeromf.dat")

    assert endpoint_check(request) is None
    rejection = endpoint_check(request, proxy=True)
    assert rejection is not None
    assert rejection.status == 483


@needs_rfc4475
def test_bcast_response_parses_with_its_broadcast_via() -> None:
    response = torture_response("bcast.dat")

    assert parse_via(response.headers.get_all("Via")[1]).host == "255.255.255.255"


@needs_rfc4475
def test_rfc_2543_invite_without_content_length_takes_the_rest_of_the_datagram() -> None:
    request = torture_request("inv2543.dat")

    assert parse_via(request.headers.get("Via") or "").branch is None
    assert request.body.startswith(b"v=0\r\n")
    assert request.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")


@needs_rfc4475
def test_framing_errors_on_a_stream() -> None:
    # clerr: wait for octets that never come; ncl and mcl01: the stream cannot go on.
    clerr = torture("clerr.dat")
    assert split_stream(clerr) == (None, clerr)
    with pytest.raises(SipParseError, match="decimal integer"):
        split_stream(torture("ncl.dat"))
    with pytest.raises(SipParseError, match="2 Content-Length headers"):
        split_stream(torture("mcl01.dat"))


@needs_rfc4475
@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_parsed_torture_messages_write_back_to_the_same_message(name: str) -> None:
    try:
        parsed = parse(torture(name))
    except SipParseError:
        return
    expected = dataclasses.replace(
        parsed, headers=parsed.headers.set("Content-Length", str(len(parsed.body)))
    )
    assert parse(serialize(parsed)) == expected


# --- PROTOS c07-sip ------------------------------------------------------------------------

LOOPBACK = {
    b"<To>": b"bob@127.0.0.1",
    b"<From>": b"alice@127.0.0.2",
    b"<From-Address>": b"127.0.0.2",
    b"<From-IP>": b"127.0.0.2",
    b"<Local-Port>": b"5062",
    b"<Branch-ID>": b"a1b2c3d4",
    b"<Call-ID>": b"4f0c5e2a",
    b"<CSeq>": b"8000",
    b"<Teardown-Method>": b"CANCEL",
}


def protos_cases() -> Iterator[tuple[int, list[bytes]]]:
    """Each case's number and its two PDUs (INVITE, teardown), placeholders filled in."""
    with tarfile.open(PROTOS) as archive:
        for member in archive.getmembers():
            stream = archive.extractfile(member) if member.isfile() else None
            if stream is None:
                continue
            raw, pdus, position = stream.read(), [], 0
            while position < len(raw):
                space = raw.index(b" ", position)
                length = int(raw[position:space])
                pdus.append(fill_placeholders(raw[space + 1 : space + 1 + length]))
                position = space + 1 + length
            yield int(member.name.rsplit("/", 1)[1]), pdus


def fill_placeholders(pdu: bytes) -> bytes:
    for placeholder, value in LOOPBACK.items():
        pdu = pdu.replace(placeholder, value)
    if b"<Content-Length>" in pdu:
        end = pdu.find(b"\r\n\r\n")
        body_length = len(pdu) - end - 4 if end >= 0 else 0
        pdu = pdu.replace(b"<Content-Length>", str(body_length).encode())
    return pdu


def verdict(data: bytes) -> str:
    """'ok', 'check NNN' or 'reject NNN'; anything but SipParseError escapes and fails."""
    try:
        parsed = parse(data, max_size=MAX_TCP_MESSAGE)
    except SipParseError as error:
        return f"reject {error.status}"
    if isinstance(parsed, Response):
        return "ok" if check_response(parsed) is None else "drop"
    rejection = endpoint_check(parsed)
    return "ok" if rejection is None else f"check {rejection.status}"


@needs_protos
def test_protos_c07_every_invite_and_teardown_parses_or_fails_cleanly() -> None:
    started = time.perf_counter()
    verdicts = {number: [verdict(pdu) for pdu in pdus] for number, pdus in protos_cases()}
    elapsed = time.perf_counter() - started

    assert len(verdicts) == 4527
    assert all(len(pair) == 2 for pair in verdicts.values())
    assert verdicts[0] == ["ok", "ok"]
    invites = collections.Counter(pair[0] for pair in verdicts.values())
    teardowns = collections.Counter(pair[1] for pair in verdicts.values())
    print(f"\nPROTOS c07: {len(verdicts)} cases in {elapsed:.1f} s")
    print(f"  INVITE: {dict(sorted(invites.items()))}")
    print(f"  CANCEL: {dict(sorted(teardowns.items()))}")
    # The SDP anomalies (cases 2427 on) leave the SIP layer untouched.
    assert all(verdicts[number][0] == "ok" for number in range(2427, 4527))
    # Every anomalous method (sip-method, 1-193) and version (sip-version, 255-329) is refused.
    assert all(verdicts[number][0] != "ok" for number in (*range(1, 194), *range(255, 330)))


# --- fuzz -------------------------------------------------------------------------------------

BUILT_IN_SEEDS = [
    b"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "Line 1" <sip:0123456789@127.0.0.1>\r\n'
    b'From: "Line 1" <sip:0123456789@127.0.0.1>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@127.0.0.2\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:0123456789@127.0.0.2:5062>;expires=3600;q=0.7\r\n"
    b'Authorization: Digest username="0123456789", realm="lab", nonce="a1", uri="sip:127.0.0.1",'
    b' response="0f3e", algorithm=MD5\r\n'
    b"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n",
    b"INVITE sip:0987654321@127.0.0.1;transport=udp SIP/2.0\r\n"
    b"v: SIP/2.0/UDP [::1]:5062;branch=z9hG4bK74bf9;received=::1\r\n"
    b"Route: <sip:127.0.0.1;lr>, <sip:[2001:db8::1]:5070;lr>\r\n"
    b"f: <sip:0123456789@127.0.0.1>;tag=9fxced76sl\r\nt: tel:+33123456789\r\n"
    b"i: 3848276298220188511@127.0.0.2\r\nCSeq: 2 INVITE\r\nm: *\r\n"
    b"Supported: replaces, timer\r\nRequire: timer\r\nAccept: application/sdp;level=1\r\n"
    b"c: application/sdp\r\nl: 38\r\n\r\n"
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nt=0 0\r\n",
    b"SIP/2.0 401 Unauthorized\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK776asdhds;rport=5062;received=127.0.0.2\r\n"
    b"To: <sip:0123456789@127.0.0.1>;tag=37GkEhwl6\r\n"
    b"From: <sip:0123456789@127.0.0.1>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@127.0.0.2\r\nCSeq: 1 REGISTER\r\n"
    b'WWW-Authenticate: Digest realm="lab", nonce="a1", algorithm=MD5, qop="auth"\r\n'
    b"Content-Length: 0\r\n\r\n",
]

INSERTS = [
    b"\r\n", b"\r\n ", b"\r\n\r\n", b" ", b"\t", b";", b",", b'"', b"\\", b"<", b">", b":",
    b"%", b"%00", b"%zz", b"\x00", b"\x7f", b"\xff", b"\xc3", b"\xe2\x80", b"=", b"@", b"[",
    b"]", b"?", b"&", b"/", b"*", b"0", b"4294967296", b"-1", b"sip:", b"tel:", b"SIP/2.0",
    b"\r", b"\n", b"l: 5\r\n", b"Content-Length: 99\r\n", b"Via: ", b"z9hG4bK", b"\xef\xbb\xbf",
]  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three random edits: flips, insertions (some repeated), cuts, line games,
    header values emptied or replaced."""
    for _ in range(rng.randint(1, 3)):
        operation = rng.randrange(10)
        size = len(data)
        if operation == 0 and size:
            at = rng.randrange(size)
            data = data[:at] + bytes([data[at] ^ rng.randint(1, 255)]) + data[at + 1 :]
        elif operation == 1:
            at = rng.randint(0, size)
            piece = rng.choice(INSERTS) * rng.choice((1, 1, 1, 2, 7, 300))
            data = data[:at] + piece + data[at:]
        elif operation == 2 and size:
            at = rng.randrange(size)
            data = data[:at] + data[at + rng.randint(1, 16) :]
        elif operation == 3:
            data = data[: rng.randint(0, size)]
        else:
            lines = data.split(b"\r\n")
            at = rng.randrange(len(lines))
            if operation == 4:
                lines.insert(at, lines[at])
            elif operation == 5:
                del lines[at]
            elif operation == 6:
                other = rng.randrange(len(lines))
                lines[at], lines[other] = lines[other], lines[at]
            elif operation == 7:
                lines[at] = lines[at] * rng.choice((2, 50))
            else:
                # Keep the header name, make its value empty or one odd piece.
                name = lines[at].partition(b":")[0]
                value = b"" if operation == 8 else b" " + rng.choice(INSERTS)
                lines[at] = name + b":" + value
            data = b"\r\n".join(lines)
    return data


def survive(data: bytes) -> str:
    """Parse, check, write back and frame `data`; only SipParseError may come out."""
    for_stream = split_stream(data)[0] if data.endswith(b"\r\n") else None
    if for_stream is not None:
        parse(for_stream, max_size=MAX_TCP_MESSAGE)
    parsed = parse(data)
    if isinstance(parsed, Request):
        # Half as a proxy: its extra checks (483, Proxy-Require) cut the others short.
        rejection = check_request(
            parsed, methods=ENDPOINT_METHODS, media_types=ENDPOINT_MEDIA, proxy=len(data) % 2 == 0
        )
        result = "request accepted" if rejection is None else f"request {rejection.status}"
    else:
        result = "response accepted" if check_response(parsed) is None else "response dropped"
    expected = dataclasses.replace(
        parsed, headers=parsed.headers.set("Content-Length", str(len(parsed.body)))
    )
    assert parse(serialize(parsed), max_size=MAX_TCP_MESSAGE) == expected
    return result


def fuzz_seeds() -> list[bytes]:
    seeds = list(BUILT_IN_SEEDS)
    if (RFC4475 / "INDEX.tsv").is_file():
        seeds += [torture(row["file"]) for row in index_rows()]
    if PROTOS.is_file():
        seeds += next(protos_cases())[1]
    return seeds


def test_fuzz_100000_mutated_messages_parse_or_fail_cleanly() -> None:
    rng = random.Random(20_061_005)
    seeds = fuzz_seeds()
    outcomes: collections.Counter[str] = collections.Counter()
    started = time.perf_counter()
    for _ in range(100_000):
        data = mutate(rng, rng.choice(seeds))
        try:
            outcomes[survive(data)] += 1
        except SipParseError as error:
            outcomes[f"rejected {error.status}"] += 1
    elapsed = time.perf_counter() - started

    print(f"\nfuzz: {sum(outcomes.values())} messages from {len(seeds)} seeds in {elapsed:.1f} s")
    print(f"  {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == 100_000


@settings(max_examples=500, derandomize=True, deadline=None)
@given(
    seed=st.sampled_from(BUILT_IN_SEEDS),
    cuts=st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=12)), max_size=4),
)
def test_hypothesis_spliced_messages_parse_or_fail_cleanly(
    seed: bytes, cuts: list[tuple[int, bytes]]
) -> None:
    data = seed
    for at, piece in cuts:
        at %= len(data) + 1
        data = data[:at] + piece + data[at + len(piece) // 2 :]
    with contextlib.suppress(SipParseError):
        survive(data)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=200))
def test_grammars_take_any_text_and_fail_cleanly(text: str) -> None:
    grammars = (
        parse_uri,
        parse_via,
        parse_name_addr,
        parse_contact,
        parse_cseq,
        parse_media_type,
        parse_max_forwards,
        parse_expires,
    )
    for grammar in grammars:
        with contextlib.suppress(SipParseError):
            grammar(text)
