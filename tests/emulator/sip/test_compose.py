"""Responses built from requests (RFC 3261 8.2.6) and fresh identifiers."""

from __future__ import annotations

import pytest

from emulator.sip.compose import (
    BRANCH_COOKIE,
    new_branch,
    new_call_id,
    new_tag,
    reason_for,
    response_to,
)
from emulator.sip.message import SipParseError, parse, serialize
from emulator.sip.peer import Peer, loopback_only

OPTIONS = (
    b"OPTIONS sip:+33145000000@lab.invalid SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bKa1\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.3;branch=z9hG4bKa0\r\n"
    b"From: <sip:+33612345678@lab.invalid>;tag=f1\r\n"
    b"To: <sip:+33145000000@lab.invalid>\r\n"
    b"Call-ID: c1@127.0.0.2\r\n"
    b"CSeq: 7 OPTIONS\r\n"
    b"Max-Forwards: 70\r\n\r\n"
)


def test_response_copies_the_dialog_headers_and_adds_the_to_tag() -> None:
    request = parse(OPTIONS)
    response = response_to(request, 200, to_tag="t9", headers=[("Allow", "INVITE, ACK")])
    text = serialize(response).decode()
    assert text.startswith("SIP/2.0 200 OK\r\n")
    assert response.headers.get_all("Via") == request.headers.get_all("Via")
    assert response.headers.get("To") == "<sip:+33145000000@lab.invalid>;tag=t9"
    assert response.headers.get("CSeq") == "7 OPTIONS"
    assert "Max-Forwards" not in response.headers
    assert response.headers.get_all("Allow") == ("INVITE", "ACK")


def test_an_existing_to_tag_is_kept() -> None:
    request = parse(OPTIONS.replace(b"lab.invalid>\r\nCall", b"lab.invalid>;tag=old\r\nCall"))
    assert str(response_to(request, 486, to_tag="new").headers.get("To")).endswith("tag=old")


def test_a_request_too_broken_to_parse_is_answered_from_its_salvaged_headers() -> None:
    broken = OPTIONS.replace(b"Max-Forwards: 70", b"Content-Length: -1")
    with pytest.raises(SipParseError) as caught:
        parse(broken)
    assert caught.value.respond_400
    assert caught.value.headers is not None
    response = response_to(caught.value.headers, caught.value.status, "Bad Content-Length")
    assert response.status == 400
    assert response.headers.get("Call-ID") == "c1@127.0.0.2"


def test_reason_phrases_fall_back_to_their_class() -> None:
    assert reason_for(486) == "Busy Here"
    assert reason_for(499) == "Bad Request"
    assert reason_for(299) == "OK"


def test_fresh_identifiers_are_unique_and_well_formed() -> None:
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(branch.startswith(BRANCH_COOKIE) for branch in branches)
    assert len({new_tag() for _ in range(1000)}) == 1000
    assert new_call_id("127.0.0.1").endswith("@127.0.0.1")


def test_a_peer_prints_as_host_and_port() -> None:
    assert str(Peer("127.0.0.1", 5060)) == "127.0.0.1:5060"
    assert str(Peer("::1", 5060, "TCP")) == "[::1]:5060"
    assert Peer("::1", 5060, "TCP").reliable
    assert not Peer("127.0.0.1", 5060).reliable


def test_the_lab_reaches_loopback_addresses_only() -> None:
    assert loopback_only("127.0.0.5", 5070) == Peer("127.0.0.5", 5070)
    assert loopback_only("[::1]", 5060) == Peer("::1", 5060)
    assert loopback_only("192.0.2.1", 5060) is None
    assert loopback_only("registrar.sip.example.net", 5060) is None
