"""SIP message layer: header grammars, header fields, parsing, writing and TCP framing."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.sip.message import (
    COMPACT_FORMS,
    MAX_HEADER_FIELDS,
    MAX_TCP_MESSAGE,
    MAX_UDP_MESSAGE,
    CSeq,
    Headers,
    NameAddr,
    Rejection,
    Request,
    Response,
    SipParseError,
    SipUri,
    Via,
    canonical_name,
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

SDP = (
    b"v=0\r\no=- 8000 8000 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"
)


def message(*lines: str, body: bytes = b"") -> bytes:
    """A message from its start line and header lines, CRLF-terminated, then the body."""
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def register(*extra: str, body: bytes = b"") -> bytes:
    return message(
        "REGISTER sip:127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK776asdhds;rport",
        "Max-Forwards: 70",
        'To: "Line 1" <sip:0123456789@127.0.0.1>',
        'From: "Line 1" <sip:0123456789@127.0.0.1>;tag=1928301774',
        "Call-ID: a84b4c76e66710@127.0.0.2",
        "CSeq: 1 REGISTER",
        "Contact: <sip:0123456789@127.0.0.2:5062>",
        "Expires: 3600",
        *extra,
        f"Content-Length: {len(body)}",
        body=body,
    )


def invite(*extra: str) -> bytes:
    return message(
        "INVITE sip:0987654321@127.0.0.1 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK74bf9",
        "Max-Forwards: 70",
        "To: <sip:0987654321@127.0.0.1>",
        "From: <sip:0123456789@127.0.0.1>;tag=9fxced76sl",
        "Call-ID: 3848276298220188511@127.0.0.2",
        "CSeq: 2 INVITE",
        "Contact: <sip:0123456789@127.0.0.2:5062>",
        "Content-Type: application/sdp",
        *extra,
        f"Content-Length: {len(SDP)}",
        body=SDP,
    )


def ok_response(*extra: str) -> bytes:
    return message(
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK776asdhds;rport=5062;received=127.0.0.2",
        "To: <sip:0123456789@127.0.0.1>;tag=37GkEhwl6",
        "From: <sip:0123456789@127.0.0.1>;tag=1928301774",
        "Call-ID: a84b4c76e66710@127.0.0.2",
        "CSeq: 1 REGISTER",
        *extra,
        "Content-Length: 0",
    )


def parse_request(data: bytes) -> Request:
    parsed = parse(data)
    assert isinstance(parsed, Request)
    return parsed


# --- URIs ----------------------------------------------------------------------------------


def test_sip_uri_keeps_every_part() -> None:
    uri = parse_uri(
        "sips:alice:secret@Atlanta.example.com:5061;transport=tcp;lr?Subject=hi&Priority=urgent"
    )

    assert uri == SipUri(
        "sips",
        user="alice",
        password="secret",
        host="Atlanta.example.com",
        port=5061,
        params=(("transport", "tcp"), ("lr", None)),
        headers=(("Subject", "hi"), ("Priority", "urgent")),
    )
    assert uri.param("TRANSPORT") == "tcp"
    assert uri.has_param("lr")
    assert uri.param("lr") is None
    assert not uri.has_param("maddr")


def test_uri_escapes_are_decoded_where_the_grammar_allows_them() -> None:
    uri = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")

    assert uri.user == "caller"
    assert uri.params == (("lr", None), ("name", "value%41"))


def test_uri_user_may_hold_semicolons_and_an_escaped_at() -> None:
    uri = parse_uri("sip:user;par=u%40example.net@example.com")

    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert uri.params == ()
    assert str(uri) == "sip:user;par=u%40example.net@example.com"


def test_uri_user_is_not_truncated_at_an_escaped_nul() -> None:
    assert parse_uri("sip:null-%00-null@example.com").user == "null-\x00-null"


def test_uri_writes_back_with_the_escapes_it_needs() -> None:
    uri = SipUri("sip", user="I have spaces@home", host="example.net", params=(("x", "a b"),))

    assert str(uri) == "sip:I%20have%20spaces%40home@example.net;x=a%20b"
    assert parse_uri(str(uri)) == uri


def test_uri_with_ipv6_reference_and_port() -> None:
    uri = parse_uri("sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]")

    assert (uri.host, uri.port) == ("2001:db8::10", 5070)
    assert uri.param("maddr") == "[2001:db8::1]"
    assert str(uri) == "sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]"


def test_tel_uris_global_and_local() -> None:
    assert parse_uri("tel:+33-1-23-45-67-89") == SipUri("tel", user="+33-1-23-45-67-89")
    local = parse_uri("tel:3010;phone-context=+33123456789")
    assert local.user == "3010"
    assert local.param("phone-context") == "+33123456789"
    assert str(local) == "tel:3010;phone-context=+33123456789"


def test_uri_leading_zeros_in_port_are_fine() -> None:
    assert parse_uri("sip:example.com:05060").port == 5060


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sip:", "empty host"),
        ("sip:user@", "empty host"),
        ("sip:@example.com", "empty or malformed user part"),
        ("sip:a@b@example.com", "more than one '@'"),
        ("sip:us er@example.com", "malformed user part"),
        ("sip:alice:se:cret@example.com", "malformed password"),
        ("sip:example.com:99999", "more than 65535"),
        ("sip:example.com:50x", "not a decimal number"),
        ("sip:[2001:db8::1", "without ']'"),
        ("sip:[2001:db8::zz]", "malformed IPv6 address"),
        ("sip:[fe80::1%eth0]", "malformed IPv6 address"),
        ("sip:[::1]x", "after its IPv6 reference"),
        ("sip:256.0.0.1", "IPv4 address out of range"),
        ("sip:-bad.example.com", "malformed host name"),
        ("sip:" + "a" * 64 + ".example.com", "longer than DNS allows"),
        ("sip:" + "a." * 130 + "com", "longer than DNS allows"),
        ("sip:example.123", "neither an IPv4 address nor a host name"),
        ("sip:example.com;;lr", "empty or malformed parameter"),
        ("sip:example.com;lr;LR", "repeats the parameter"),
        ("sip:example.com;a=", "empty or malformed parameter"),
        ("sip:example.com?Route", "malformed header"),
        ("<sip:user@example.com>", "does not start with a scheme"),
        ("user@example.com", "does not start with a scheme"),
        ("tel:3010", "local number without a phone-context"),
        ("tel:+", "malformed telephone number"),
        ("http://exa mple.com", "characters that no URI may hold"),
    ],
)
def test_malformed_uris_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem) as caught:
        parse_uri(text)
    assert caught.value.status == 400


def test_unknown_uri_scheme_asks_for_416() -> None:
    with pytest.raises(SipParseError, match="unsupported URI scheme 'mailto'") as caught:
        parse_uri("mailto:alice@example.com")
    assert caught.value.status == 416


def test_overlong_uri_asks_for_414() -> None:
    with pytest.raises(SipParseError, match="more than 4096") as caught:
        parse_uri("sip:" + "a" * 5000 + "@example.com")
    assert caught.value.status == 414


# --- Via -----------------------------------------------------------------------------------


def test_via_with_odd_whitespace_and_parameters() -> None:
    via = parse_via("SIP  /   2.0 /udp 192.0.2.2 : 5060 ; branch = z9hG4bK390skdjuw ; ttl=16")

    assert via == Via(
        "SIP/2.0", "UDP", "192.0.2.2", 5060, (("branch", "z9hG4bK390skdjuw"), ("ttl", "16"))
    )
    assert via.branch == "z9hG4bK390skdjuw"
    assert via.ttl == 16
    assert via.sent_by == "192.0.2.2:5060"
    assert str(via) == "SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bK390skdjuw;ttl=16"


def test_via_rport_as_a_flag_asks_for_the_source_port() -> None:
    via = parse_via("SIP/2.0/UDP 127.0.0.2:5062;rport;branch=z9hG4bKabc")

    assert via.wants_rport
    assert via.rport is None
    assert via.received is None


def test_via_rport_with_a_value_and_received_as_the_server_fills_them() -> None:
    via = parse_via("SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bKabc;received=192.0.2.7;rport=40312")

    assert via.wants_rport
    assert via.rport == 40312
    assert via.received == "192.0.2.7"


def test_via_with_ipv6_sent_by_and_received() -> None:
    via = parse_via(
        "SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bK1;received=2001:db8::9;maddr=[::1]"
    )

    assert via.host == "2001:db8::9"
    assert via.sent_by == "[2001:db8::9]:5060"
    assert via.received == "2001:db8::9"
    assert via.maddr == "[::1]"
    assert parse_via(str(via)) == via


def test_via_without_branch_is_fine_for_rfc_2543_peers() -> None:
    assert parse_via("SIP/2.0/UDP iftgw.example.com").branch is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("SIP/2.0 host.example.com", "does not start with protocol/version/transport"),
        ("SIP/2.0/UDP", "does not start with protocol/version/transport"),
        ("SIP/2.0/UDP 192.0.2.15;;,", "empty or malformed parameter"),
        ('SIP/2.0/UDP h.example.com;branch="z9hG4bK"', "not a quoted string"),
        ("SIP/2.0/UDP h.example.com;branch", "needs a value"),
        ("SIP/2.0/UDP h.example.com;received=example.com", "not an IP address"),
        ("SIP/2.0/UDP h.example.com;rport=abc", "not a decimal number"),
        ("SIP/2.0/UDP h.example.com;ttl=300", "more than 255"),
        ("SIP/2.0/UDP h.example.com;branch=a;branch=b", "repeats the parameter"),
        ("SIP/2.0/UDP h.example.com junk", "expected ';'"),
        ("SIP/2.0/UDP h.example.com:70000", "more than 65535"),
        ("SIP/2.0/UDP h.example.com;x=a:b", "malformed parameter value"),
    ],
)
def test_malformed_via_is_refused_with_the_reason(value: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse_via(value)


# --- name-addr -----------------------------------------------------------------------------


def test_name_addr_with_quoted_display_name_and_escapes() -> None:
    address = parse_name_addr(
        '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8'
    )

    assert address.display == 'J Rosenberg \\"'
    assert address.uri == SipUri("sip", user="jdrosen", host="example.com")
    assert address.tag == "98asjd8"
    assert str(address) == '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8'


def test_name_addr_with_token_display_name_without_space_before_angle() -> None:
    address = parse_name_addr("caller<sip:caller@example.com>;tag=323")

    assert address.display == "caller"
    assert address.tag == "323"


def test_addr_spec_parameters_belong_to_the_header_not_the_uri() -> None:
    bare = parse_name_addr("sip:+19725552222@gw1.example.net;unknownparam")
    enclosed = parse_name_addr("<sip:+19725552222@gw1.example.net;unknownparam>")

    assert bare.display is None
    assert bare.params == (("unknownparam", None),)
    assert bare.uri.params == ()
    assert enclosed.params == ()
    assert enclosed.uri.params == (("unknownparam", None),)


def test_quoted_parameter_values_keep_their_quotes() -> None:
    address = parse_name_addr('<sip:a@example.com>;info="x; y";tag=1')

    assert address.param("info") == '"x; y"'
    assert address.tag == "1"


def test_display_name_with_control_characters_writes_back_as_quoted_pairs() -> None:
    address = NameAddr("BEL:\x07 NUL:\x00", SipUri("sip", host="example.com"))

    assert str(address) == '"BEL:\\\x07 NUL:\\\x00" <sip:example.com>'
    assert parse_name_addr(str(address)) == address


def test_contact_star_and_contact_parameters() -> None:
    assert parse_contact("*") == "*"
    contact = parse_contact(
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; q = 0.33 ;expires=60'
    )
    assert isinstance(contact, NameAddr)
    assert contact.display == 'Quoted string ""'
    assert contact.param("q") == "0.33"
    assert contact.expires == 60


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"Mr. J. User <sip:j.user@example.com>', "unterminated or malformed quoted display name"),
        ('"Watson, Thomas" < sip:t.watson@example.org >', "whitespace inside '<>'"),
        ("Bell, Alexander <sip:a.g.bell@example.com>", "must be enclosed in '<>'"),
        ("sip:user@example.com?Route=%3Csip:sip.example.com%3E", "must be enclosed in '<>'"),
        ('"Joe" sip:joe@example.org', "not followed by '<'"),
        ("<sip:joe@example.org", "'<' without '>'"),
        ('"Joe" <sip:joe@example.org>;;;;', "empty or malformed parameter"),
        ("<sip:joe@example.org>;tag=1;tag=2", "repeats the parameter"),
        ("", "empty or does not start with a URI"),
    ],
)
def test_malformed_addresses_are_refused_with_the_reason(value: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse_name_addr(value)


def test_address_with_unknown_scheme_asks_for_416() -> None:
    with pytest.raises(SipParseError, match="unsupported URI scheme 'isbn'") as caught:
        parse_name_addr("isbn:2983792873")
    assert caught.value.status == 416


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("<sip:a@example.com>;q=1.5", "q must be a qvalue"),
        ("<sip:a@example.com>;q", "q must be a qvalue"),
        ("<sip:a@example.com>;expires=280297596632815", "more than 4294967295"),
        ("<sip:a@example.com>;expires", "expires needs a value"),
    ],
)
def test_contact_parameters_are_checked(value: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse_contact(value)


# --- CSeq, integers, media types -----------------------------------------------------------


def test_cseq_allows_leading_zeros_and_folding_whitespace() -> None:
    assert parse_cseq("0009 \t INVITE") == CSeq(9, "INVITE")
    assert str(CSeq(9, "INVITE")) == "9 INVITE"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("36893488147419103232 REGISTER", "more than 4294967295"),
        ("4294967296 INVITE", "more than 4294967295"),
        ("-1 INVITE", "must be a number and a method"),
        ("1", "must be a number and a method"),
        ("1 INV ITE", "must be a number and a method"),
        ("1\u0663 INVITE", "must be a number and a method"),
    ],
)
def test_malformed_cseq_is_refused(value: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse_cseq(value)


def test_scalar_headers_accept_leading_zeros_and_refuse_huge_values() -> None:
    assert parse_max_forwards("0068") == 68
    assert parse_expires("  3600 ") == 3600
    assert parse_expires("4294967295") == 4294967295
    with pytest.raises(SipParseError, match="Max-Forwards '300' is more than 255"):
        parse_max_forwards("300")
    with pytest.raises(SipParseError, match="Expires '1000000000000000000000000000000"):
        parse_expires("1" + "0" * 100)
    with pytest.raises(SipParseError, match="Expires must be a decimal integer, got '1e3'"):
        parse_expires("1e3")
    with pytest.raises(SipParseError, match="decimal integer"):
        parse_expires("\u0661\u0662")


def test_media_type_is_case_insensitive_and_keeps_parameters() -> None:
    media = parse_media_type("Multipart/Mixed ; boundary=7a9cbec02ceef655")

    assert media.essence == "multipart/mixed"
    assert media.params == (("boundary", "7a9cbec02ceef655"),)
    with pytest.raises(SipParseError, match="is not type/subtype"):
        parse_media_type("sdp")


# --- header fields -------------------------------------------------------------------------


@pytest.mark.parametrize(("short", "full"), sorted(COMPACT_FORMS.items()))
def test_compact_forms_are_expanded(short: str, full: str) -> None:
    headers = parse_request(
        message("OPTIONS sip:a.example.com SIP/2.0", f"{short.upper()}: 0")
    ).headers

    assert list(headers) == [(full, "0")]
    assert headers.get(short) == headers.get(full.upper()) == "0"
    assert canonical_name(short) == full


def test_header_names_are_case_insensitive_and_spelled_canonically() -> None:
    parsed = parse_request(register("cAlL-iNfO: <http://example.com/a.png>", "X-Custom: 1"))

    assert parsed.headers.get("call-id") == "a84b4c76e66710@127.0.0.2"
    assert parsed.headers.get("I") == "a84b4c76e66710@127.0.0.2"
    assert ("Call-Info", "<http://example.com/a.png>") in list(parsed.headers)
    assert parsed.headers.get("x-custom") == "1"
    assert ("X-Custom", "1") in list(parsed.headers)


def test_folded_header_lines_are_unfolded() -> None:
    parsed = parse_request(
        message(
            "OPTIONS sip:user@example.com SIP/2.0",
            "TO :",
            " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            "cseq: 0009",
            "  INVITE",
            "NewFangledHeader:   newfangled value",
            "\t continued newfangled value",
        )
    )

    assert parsed.headers.get("To") == "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"
    assert parsed.headers.get("CSeq") == "0009 INVITE"
    assert parsed.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"


def test_list_headers_give_their_values_in_order_across_lines_and_commas() -> None:
    parsed = parse_request(
        register(
            "Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK1 , SIP/2.0/UDP b.example.com",
            'Contact: "Smith, J" <sip:j@example.com;x=a,b>, <sip:k@example.com>;q=0.5',
            "Allow: INVITE,ACK , BYE",
            "Allow: CANCEL",
        )
    )

    assert parsed.headers.get_all("Via") == (
        "SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK776asdhds;rport",
        "SIP/2.0/TCP a.example.com;branch=z9hG4bK1",
        "SIP/2.0/UDP b.example.com",
    )
    assert parsed.headers.get_all("Contact") == (
        "<sip:0123456789@127.0.0.2:5062>",
        '"Smith, J" <sip:j@example.com;x=a,b>',
        "<sip:k@example.com>;q=0.5",
    )
    assert parsed.headers.get_all("Allow") == ("INVITE", "ACK", "BYE", "CANCEL")


def test_headers_whose_grammar_is_not_a_list_keep_their_commas() -> None:
    parsed = parse_request(
        register(
            "Date: Sat, 13 Nov 2010 23:29:00 GMT",
            'Authorization: Digest username="a", realm="b", nonce="c"',
            "UnknownHeaderWithUnusualValue: ;;,,;;,;",
        )
    )

    assert parsed.headers.get_all("Date") == ("Sat, 13 Nov 2010 23:29:00 GMT",)
    assert parsed.headers.get("Authorization") == 'Digest username="a", realm="b", nonce="c"'
    assert parsed.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            "Via: SIP/2.0/UDP a.example.com,,SIP/2.0/UDP b.example.com",
            "Via header has an empty element",
        ),
        ("Allow: INVITE,", "Allow header has an empty element"),
        ('Contact: "Joe <sip:joe@example.com>, <sip:a@b.c>', "unterminated quoted string"),
        ("Contact: <sip:joe@example.com, <sip:a@example.com", "'<' without '>'"),
        ("Subject: bell\x07", r"control character '\\x07' outside a quoted-pair"),
        ("Bad Name: x", "header name 'Bad Name' is not a token"),
        ("Continued", "has no ':'"),
    ],
)
def test_broken_header_lines_are_refused_with_the_reason(line: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse(register(line))


def test_control_characters_are_allowed_in_quoted_pairs() -> None:
    parsed = parse_request(register('Subject: "NUL:\\\x00"'))

    assert parsed.headers.get("Subject") == '"NUL:\\\x00"'


def test_headers_are_immutable_and_edits_return_new_headers() -> None:
    headers = Headers([("v", "SIP/2.0/UDP a.example.com"), ("Allow", "INVITE, BYE")])

    more = headers.add("Via", "SIP/2.0/UDP top.example.com", first=True).add("X-A", " 1 ")
    assert list(headers) == [
        ("Via", "SIP/2.0/UDP a.example.com"),
        ("Allow", "INVITE"),
        ("Allow", "BYE"),
    ]
    assert more.get("via") == "SIP/2.0/UDP top.example.com"
    assert more.get("X-A") == "1"
    assert more.set("allow", "OPTIONS").get_all("Allow") == ("OPTIONS",)
    assert list(more.set("allow", "OPTIONS"))[2] == ("Allow", "OPTIONS")
    assert "Allow" not in more.remove("ALLOW")
    assert more.remove("X-A") == headers.add("Via", "SIP/2.0/UDP top.example.com", first=True)
    assert Headers([("x-a", "1")]) == Headers([("X-A", "1")])
    assert len(more) == 5


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("Subject", "hi\r\nVia: SIP/2.0/UDP evil.example.com", r"control character '\\r'"),
        ("Subject", "line\nbreak", r"control character '\\n'"),
        ("X Y", "1", "is not a token"),
        ("", "1", "is not a token"),
        ("Subject", "x" * 9000, "more than 8192"),
    ],
)
def test_headers_refuse_what_would_break_the_message(name: str, value: str, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        Headers().add(name, value)


# --- parsing messages ----------------------------------------------------------------------


def test_request_fields() -> None:
    parsed = parse_request(invite())

    assert parsed.method == "INVITE"
    assert parsed.uri == SipUri("sip", user="0987654321", host="127.0.0.1")
    assert parsed.version == "SIP/2.0"
    assert parsed.body == SDP
    assert parse_cseq(parsed.headers.get("CSeq") or "") == CSeq(2, "INVITE")


def test_response_fields() -> None:
    parsed = parse(ok_response())

    assert isinstance(parsed, Response)
    assert (parsed.status, parsed.reason, parsed.body) == (200, "OK", b"")
    assert parse_via(parsed.headers.get("Via") or "").rport == 5062


def test_response_with_empty_or_utf8_reason_phrase() -> None:
    empty = parse(b"SIP/2.0 100 \r\n" + ok_response().split(b"\r\n", 1)[1])
    russian = parse("SIP/2.0 200 Всё хорошо\r\n".encode() + ok_response().split(b"\r\n", 1)[1])

    assert isinstance(empty, Response)
    assert isinstance(russian, Response)
    assert empty.reason == ""
    assert russian.reason == "Всё хорошо"


def test_leading_crlfs_are_skipped() -> None:
    assert parse(b"\r\n\r\n" + register()) == parse(register())


def test_content_length_governs_the_body_and_trailing_octets_are_ignored() -> None:
    data = register("Content-Type: text/plain", body=b"hello") + b"TRAILING JUNK"

    assert parse_request(data).body == b"hello"


def test_without_content_length_the_datagram_holds_the_body() -> None:
    data = invite().replace(f"Content-Length: {len(SDP)}\r\n".encode(), b"")

    assert parse_request(data).body == SDP


@pytest.mark.parametrize(
    ("replacement", "problem"),
    [
        (b"Content-Length: 9999", "Content-Length is 9999 but only"),
        (b"Content-Length: -999", "Content-Length must be a decimal integer, got '-999'"),
        (b"Content-Length: 99999999999999999999", "is more than"),
        (b"Content-Length: 5\r\nl: 5", "2 Content-Length headers"),
        (b"Content-Length: 0x5", "must be a decimal integer"),
    ],
)
def test_bad_content_length_is_refused(replacement: bytes, problem: str) -> None:
    data = register("Content-Type: text/plain", body=b"hello").replace(
        b"Content-Length: 5", replacement
    )

    with pytest.raises(SipParseError, match=problem):
        parse(data)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "message is empty"),
        (b"\r\n\r\n", "message is empty"),
        (b"OPTIONS sip:a.example.com SIP/2.0\r\nVia: x\r\n", "no empty line"),
        (b"OPTIONS sip:a.example.com SIP/2.0\nVia: x\r\n\r\n", "line 1 holds a bare LF"),
        (b"OPTIONS sip:a.example.com SIP/2.0\r\nVia: x\ry\r\n\r\n", "line 2 holds a bare CR"),
        (
            b"OPTIONS sip:a.example.com SIP/2.0\r\nSubject: \xe9t\xe9\r\n\r\n",
            "not UTF-8: octet 0xe9",
        ),
        (b"OPTIONS  sip:a.example.com SIP/2.0\r\n\r\n", "with single spaces"),
        (b"OPTIONS sip:a.example.com SIP/2.0 \r\n\r\n", "with single spaces"),
        (b"OPTIONS sip:a.example.com; lr SIP/2.0\r\n\r\n", "with single spaces"),
        (b"INVITE sip:alan@jasomi.com\r\n\r\n", "with single spaces"),
        (b"OPTIONS sip:a.example.com HTTP/1.1\r\n\r\n", "not a SIP version"),
        (b"OPT{IONS sip:a.example.com SIP/2.0\r\n\r\n", "is not a token"),
        (b"OPTIONS <sip:a.example.com> SIP/2.0\r\n\r\n", "Request-URI: URI"),
        (b"OPTIONS sip:a.example.com SIP/2.0\r\n Via: x\r\n\r\n", "continuation"),
        (b"SIP/2.0 4294967301 better not break\r\n\r\n", "not three digits from 100 to 699"),
        (b"SIP/2.0 700 Too High\r\n\r\n", "not three digits from 100 to 699"),
        (b"SIP/2.0 200\r\n\r\n", "status line must be"),
        (b"SIP/2.0 200 OK <really>\r\n\r\n", "reason phrase"),
    ],
)
def test_malformed_messages_are_refused_with_the_reason(data: bytes, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        parse(data)


def test_unknown_request_uri_scheme_asks_for_416() -> None:
    with pytest.raises(SipParseError, match="unsupported URI scheme") as caught:
        parse(register().replace(b"REGISTER sip:127.0.0.1", b"REGISTER isbn:2983792873"))
    assert caught.value.status == 416
    assert caught.value.respond_400


def test_limits_against_hostile_input() -> None:
    with pytest.raises(SipParseError, match="more than 65535") as caught:
        parse(register(body=b"x" * MAX_UDP_MESSAGE))
    assert caught.value.status == 513
    assert parse(register(body=b"x" * MAX_UDP_MESSAGE), max_size=MAX_TCP_MESSAGE)
    with pytest.raises(SipParseError, match=f"more than {MAX_HEADER_FIELDS} header fields"):
        parse(register(*[f"X-{n}: {n}" for n in range(MAX_HEADER_FIELDS)]))
    with pytest.raises(SipParseError, match=f"more than {MAX_HEADER_FIELDS} header fields"):
        parse(register("Allow: " + ",".join(["INVITE"] * MAX_HEADER_FIELDS)))
    with pytest.raises(SipParseError, match=r"header line 'Subject: a.* more than 8448"):
        parse(register("Subject: " + "a" * 9000))
    with pytest.raises(SipParseError, match="more than 8192"):
        parse(register("Subject: a", *[" " + "a" * 100] * 90))
    with pytest.raises(SipParseError, match="start line is"):
        parse(register().replace(b"sip:127.0.0.1", b"sip:" + b"a" * 9000))
    with pytest.raises(SipParseError, match="more than 4096") as caught:
        parse(register().replace(b"sip:127.0.0.1", b"sip:" + b"a" * 5000))
    assert caught.value.status == 414


ADVERSARIAL = [
    b"OPTIONS sip:a.example.com SIP/2.0\r\nVia: SIP/2.0/UDP h" + b";" * 60_000 + b"\r\n\r\n",
    b"OPTIONS sip:a.example.com SIP/2.0\r\nSubject: " + b" " * 60_000 + b"x\r\n\r\n",
    b"OPTIONS sip:a.example.com SIP/2.0\r\nContact: " + b'"' + b"\\ " * 30_000 + b"\r\n\r\n",
    b"OPTIONS sip:a.example.com SIP/2.0\r\nContact: " + b"<" * 60_000 + b"\r\n\r\n",
    b"OPTIONS sip:a.example.com SIP/2.0\r\nAllow: " + b"," * 60_000 + b"\r\n\r\n",
    b"OPTIONS sip:a.example.com SIP/2.0\r\nX: a\r\n" + b" a\r\n" * 20_000 + b"\r\n",
    b"OPTIONS sip:a" + b";" * 60_000 + b" SIP/2.0\r\n\r\n",
    b"OPTIONS " + b" " * 60_000 + b"sip:a SIP/2.0\r\n\r\n",
    b"\r\n" * 30_000,
    b"SIP/2.0 200 " + b"%" * 60_000 + b"\r\n\r\n",
]


def test_adversarial_inputs_fail_cleanly() -> None:
    # No timed assertion (speed belongs to benchmarks): a backtracking regex on these inputs
    # would take minutes, which the run itself would show.
    for data in ADVERSARIAL:
        with pytest.raises(SipParseError):
            parse(data)


ADVERSARIAL_VALUES = [
    ("a " * 4000 + "<", parse_name_addr),
    ('"' + "\\\x00" * 4000, parse_name_addr),
    ("<sip:a@b>" + ";a=" + "1" * 9000, parse_name_addr),
    ("SIP/2.0/UDP h" + ";a" * 4000 + ";", parse_via),
    ("SIP/2.0/UDP h;received=" + "a" * 8000, parse_via),
    ("sip:" + "%4" * 2000, parse_uri),
    ("sip:h;" + "a=b;" * 1000 + ";", parse_uri),
    ("1" * 8000 + " INVITE", parse_cseq),
    ("text/" + "a;" * 4000, parse_media_type),
]


@pytest.mark.parametrize(("value", "grammar"), ADVERSARIAL_VALUES)
def test_grammars_fail_cleanly_on_adversarial_values(value: str, grammar: object) -> None:
    assert callable(grammar)
    with pytest.raises(SipParseError):
        grammar(value)


# --- errors a server answers ---------------------------------------------------------------


def test_parse_error_on_a_request_carries_what_a_400_needs() -> None:
    with pytest.raises(SipParseError) as caught:
        parse(register().replace(b"Content-Length: 0", b"Content-Length: 10"))

    error = caught.value
    assert error.respond_400
    assert error.status == 400
    assert error.headers is not None
    assert error.headers.get("Call-ID") == "a84b4c76e66710@127.0.0.2"
    assert error.headers.get("Via") == "SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK776asdhds;rport"
    assert error.headers.get("Expires") is None


def test_parse_error_keeps_a_broken_via_whole_for_the_response() -> None:
    with pytest.raises(SipParseError) as caught:
        parse(register("Via: SIP/2.0/UDP 192.0.2.15;;,;,,"))

    assert caught.value.respond_400
    assert caught.value.headers is not None
    assert "SIP/2.0/UDP 192.0.2.15;;,;,," in caught.value.headers.get_all("Via")


@pytest.mark.parametrize(
    "data",
    [
        ok_response().replace(b"200 OK", b"200 OK <x>"),
        register().replace(b"REGISTER sip", b"ACK sip").replace(b"Content-Length: 0", b"l: 9"),
        register().replace(b"Call-ID", b"Call-Id\x00"),
        b"\xff\xfe garbage",
    ],
    ids=["response", "ack", "no-call-id", "garbage"],
)
def test_parse_error_says_not_to_answer_responses_acks_and_rubble(data: bytes) -> None:
    with pytest.raises(SipParseError) as caught:
        parse(data)
    assert not caught.value.respond_400


# --- serializing ---------------------------------------------------------------------------


def test_serialize_writes_canonical_names_and_fixes_content_length() -> None:
    request = Request(
        "MESSAGE",
        SipUri("sip", user="bob", host="127.0.0.1"),
        Headers(
            [
                ("v", "SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK1"),
                ("v", "SIP/2.0/UDP 127.0.0.3;branch=z9hG4bK2"),
                ("l", "999"),
                ("k", "timer"),
                ("k", "replaces"),
                ("Allow", "INVITE, ACK"),
                ("c", "text/plain"),
            ]
        ),
        b"hi\x00\r\n",
    )

    assert serialize(request) == (
        b"MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK1\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.3;branch=z9hG4bK2\r\n"
        b"Content-Length: 5\r\n"
        b"Supported: timer, replaces\r\n"
        b"Allow: INVITE, ACK\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"hi\x00\r\n"
    )


def test_serialize_adds_content_length_when_missing() -> None:
    response = Response(486, "Busy Here", Headers([("Call-ID", "x")]))

    assert (
        serialize(response) == b"SIP/2.0 486 Busy Here\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    )


def test_parse_then_serialize_then_parse_gives_the_same_message() -> None:
    for data in (register(), invite(), ok_response()):
        parsed = parse(data)
        assert parse(serialize(parsed)) == parsed


@pytest.mark.parametrize(
    ("message_", "problem"),
    [
        (Request("IN VITE", SipUri("sip", host="a.example.com"), Headers()), "not a token"),
        (Request("INVITE", SipUri("sip", host="a b"), Headers()), "whitespace or control"),
        (Request("INVITE", SipUri("sip", host="a"), Headers(), version="SIP/2"), "not SIP/x.y"),
        (Response(200, "OK\r\nVia: x", Headers()), "forbidden characters"),
        (Response(99, "Low", Headers()), "not from 100 to 699"),
    ],
)
def test_serialize_refuses_a_start_line_it_cannot_write(
    message_: Request | Response, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        serialize(message_)


# --- round trip with generated messages ----------------------------------------------------

TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=10)
free_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\u2028\u2029"),
    max_size=20,
)
labels = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
hosts = st.one_of(
    st.builds(lambda parts, top: ".".join([*parts, top]), st.lists(labels, max_size=3), labels),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)


def unique_params(
    values: st.SearchStrategy[str | None],
) -> st.SearchStrategy[tuple[tuple[str, str | None], ...]]:
    return st.lists(st.tuples(tokens, values), max_size=3, unique_by=lambda p: p[0].lower()).map(
        tuple
    )


uris = st.builds(
    SipUri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.one_of(st.none(), free_text.filter(bool)),
    host=hosts,
    port=st.one_of(st.none(), st.integers(0, 65535)),
    params=unique_params(st.one_of(st.none(), free_text.filter(bool))),
    headers=st.lists(st.tuples(free_text.filter(bool), free_text), max_size=2).map(tuple),
)
# Any character a quoted string can carry, control characters included (as quoted-pairs).
display_names = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12
)
addresses = st.builds(
    NameAddr,
    display=st.one_of(st.none(), display_names),
    uri=uris,
    params=unique_params(st.one_of(st.none(), tokens)),
)
vias = st.builds(
    Via,
    protocol=st.just("SIP/2.0"),
    transport=st.sampled_from(["UDP", "TCP", "TLS", "SCTP"]),
    host=hosts,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    params=st.tuples(tokens.map(lambda t: ("branch", "z9hG4bK" + t))),
)
header_fields = st.lists(
    st.one_of(
        vias.map(lambda v: ("Via", str(v))),
        addresses.map(lambda a: ("From", str(a))),
        addresses.map(lambda a: ("Contact", str(a))),
        st.builds(lambda n, m: ("CSeq", f"{n} {m}"), st.integers(0, 2**32 - 1), tokens),
        st.lists(tokens, min_size=1, max_size=4).map(lambda t: ("Allow", ", ".join(t))),
        free_text.map(lambda t: ("Subject", t.strip(" \t"))),
        st.tuples(tokens.map(lambda t: "X-" + t), free_text),
    ),
    max_size=8,
)
requests = st.builds(
    Request,
    method=tokens,
    uri=uris,
    headers=header_fields.map(Headers),
    body=st.binary(max_size=64),
)
responses = st.builds(
    Response,
    status=st.integers(100, 699),
    reason=st.text(alphabet="abc XYZ-_.!~*'();/?:@&=+$,\té中", max_size=12),
    headers=header_fields.map(Headers),
    body=st.binary(max_size=64),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.one_of(requests, responses))
def test_generated_messages_survive_serialize_and_parse(original: Request | Response) -> None:
    expected = dataclasses.replace(
        original, headers=original.headers.set("Content-Length", str(len(original.body)))
    )

    assert parse(serialize(original), max_size=MAX_TCP_MESSAGE) == expected


@settings(max_examples=300, derandomize=True, deadline=None)
@given(uris)
def test_generated_uris_survive_writing_and_parsing(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri


@settings(max_examples=300, derandomize=True, deadline=None)
@given(addresses)
def test_generated_addresses_survive_writing_and_parsing(address: NameAddr) -> None:
    assert parse_name_addr(str(address)) == address


# --- TCP framing ---------------------------------------------------------------------------


def test_split_stream_cuts_one_message_and_keeps_the_rest() -> None:
    first, second = register(), invite()

    assert split_stream(first + second) == (first, second)
    assert split_stream(second) == (second, b"")


def test_split_stream_waits_for_headers_and_body() -> None:
    data = invite()

    assert split_stream(data[:40]) == (None, data[:40])
    assert split_stream(data[:-3]) == (None, data[:-3])
    assert split_stream(data) == (data, b"")


def test_split_stream_drops_keepalive_crlfs_before_a_message() -> None:
    assert split_stream(b"\r\n\r\n") == (None, b"")
    assert split_stream(b"\r\n\r\n" + register()) == (register(), b"")


def test_split_stream_unfolds_content_length() -> None:
    data = register("Content-Type: text/plain", body=b"hello").replace(
        b"Content-Length: 5", b"l :\r\n 5"
    )

    assert split_stream(data + b"rest") == (data, b"rest")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (register().replace(b"Content-Length: 0\r\n", b""), "no Content-Length"),
        (
            register().replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 0"),
            "2 Content-Length",
        ),
        (register().replace(b"Content-Length: 0", b"Content-Length: -999"), "decimal integer"),
        (register().replace(b"Content-Length: 0", b"Content-Length: 999999"), "more than 262144"),
        (b"INVITE sip:a SIP/2.0\r\n" + b"X: y\r\n" * 50_000, "no end of header section"),
    ],
)
def test_split_stream_refuses_framing_errors(data: bytes, problem: str) -> None:
    with pytest.raises(SipParseError, match=problem):
        split_stream(data)


def test_split_stream_framing_error_still_says_how_to_answer() -> None:
    with pytest.raises(SipParseError) as caught:
        split_stream(register().replace(b"Content-Length: 0", b"Content-Length: -999"))
    assert caught.value.respond_400


# --- semantic checks -----------------------------------------------------------------------


def endpoint_check(request: Request) -> Rejection | None:
    """The checks of an endpoint that knows the basic methods and takes only SDP."""
    return check_request(
        request,
        methods=("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER"),
        media_types=("application/sdp",),
    )


def test_a_good_request_passes_the_checks() -> None:
    assert check_request(parse_request(register())) is None
    assert endpoint_check(parse_request(invite())) is None


@pytest.mark.parametrize(
    ("data", "status", "detail"),
    [
        (register().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1), 505, "SIP version SIP/7.0"),
        (register().replace(b"Call-ID", b"X-Call-ID"), 400, "missing Call-ID header"),
        (register("To: <sip:other@example.com>"), 400, "more than one To header"),
        (
            register().replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE"),
            400,
            "CSeq method INVITE differs",
        ),
        (register().replace(b"Max-Forwards: 70", b"Max-Forwards: 300"), 400, "more than 255"),
        (register().replace(b"Expires: 3600", b"Expires: soon"), 400, "Expires must be a decimal"),
        (register().replace(b"Call-ID: a84b", b"Call-ID: @a84b"), 400, "is not word['@'word]"),
        (register("Contact: *"), 400, "'*' must be the only Contact"),
        (register("Route: <sip:proxy example.com>"), 400, "Route:"),
        (register().replace(b"SIP/2.0/UDP", b"SIP/3.0/UDP"), 400, "Via protocol 'SIP/3.0'"),
        (
            register().replace(b"sip:127.0.0.1 SIP", b"sip:127.0.0.1?Route=x SIP"),
            400,
            "Request-URI carries headers",
        ),
        (register(body=b"hello"), 400, "a body without Content-Type"),
        (register("Require: 100rel, x y"), 400, "option tag 'x y'"),
        (register("Accept: nonsense"), 400, "not type/subtype"),
        (register("Content-Type:", body=b"x"), 400, "media type '' is not type/subtype"),
        (register().replace(b"REGISTER", b"PUBLISH"), 501, "method 'PUBLISH' is not implemented"),
        (
            register("Require: nothingSupportsThis"),
            420,
            "unsupported extensions: nothingSupportsThis",
        ),
        (
            invite().replace(b"application/sdp", b"application/unknownformat"),
            415,
            "application/unknownformat",
        ),
        (invite("Accept: text/nobodyKnowsThis"), 406, "Accept allows none of application/sdp"),
    ],
)
def test_check_request_gives_the_status_the_rfc_asks_for(
    data: bytes, status: int, detail: str | None
) -> None:
    rejection = endpoint_check(parse_request(data))

    assert rejection is not None
    assert rejection.status == status
    if detail is not None:
        assert detail in rejection.detail


def test_route_in_addr_spec_form_is_tolerated() -> None:
    assert check_request(parse_request(register("Route: sip:proxy.example.com"))) is None


def test_rejections_carry_the_headers_their_response_needs() -> None:
    bad_extension = check_request(parse_request(register("Require: foo, bar")))
    not_implemented = check_request(
        parse_request(register().replace(b"REGISTER", b"PUBLISH")), methods=("REGISTER", "OPTIONS")
    )

    assert bad_extension is not None
    assert (bad_extension.status, bad_extension.reason) == (420, "Bad Extension")
    assert bad_extension.headers == (("Unsupported", "foo, bar"),)
    assert not_implemented is not None
    assert not_implemented.headers == (("Allow", "REGISTER, OPTIONS"),)


def test_supported_extensions_and_wildcard_accept_pass() -> None:
    request = parse_request(invite("Require: timer", "Accept: application/*"))

    assert check_request(request, extensions=("timer",), media_types=("application/sdp",)) is None


def test_a_proxy_refuses_max_forwards_zero_and_an_endpoint_does_not() -> None:
    request = parse_request(register().replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))

    assert check_request(request) is None
    rejection = check_request(request, proxy=True)
    assert rejection is not None
    assert rejection.status == 483


def test_proxy_require_binds_only_a_proxy() -> None:
    request = parse_request(register("Proxy-Require: noProxiesSupportThis"))

    assert check_request(request) is None
    rejection = check_request(request, proxy=True)
    assert rejection is not None
    assert rejection.status == 420


def test_ack_and_cancel_ignore_require() -> None:
    cancel = register("Require: foo").replace(b"REGISTER", b"CANCEL")

    assert check_request(parse_request(cancel)) is None


def test_check_response_says_why_to_drop() -> None:
    good = parse(ok_response())
    huge = parse(
        ok_response().replace(b"CSeq: 1 REGISTER", b"CSeq: 9292394834772304023312 OPTIONS")
    )
    no_via = parse(ok_response().replace(b"Via:", b"X-Via:"))
    old = parse(ok_response().replace(b"SIP/2.0 200", b"SIP/1.0 200"))

    assert isinstance(good, Response)
    assert isinstance(huge, Response)
    assert isinstance(no_via, Response)
    assert isinstance(old, Response)
    assert check_response(good) is None
    assert "more than 4294967295" in (check_response(huge) or "")
    assert check_response(no_via) == "missing Via header"
    assert check_response(old) == "SIP version SIP/1.0"
