"""SIP transactions: every timer of the four machines, RFC 6026, matching and a bounded table."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from emulator.sip.compose import response_to
from emulator.sip.headers import parse_via
from emulator.sip.message import Request, Response, parse
from emulator.sip.peer import Peer
from emulator.sip.transaction import (
    Action,
    ClientTransaction,
    Deliver,
    Incoming,
    Send,
    ServerTransaction,
    State,
    TimedOut,
    Timers,
    TransactionError,
    Transactions,
    build_ack,
    build_cancel,
)

CORE = Peer("192.0.2.1", 5060)
CORE_TCP = Peer("192.0.2.1", 5060, "TCP")
PHONE = Peer("192.0.2.10", 5060)
PHONE_TCP = Peer("192.0.2.10", 5060, "TCP")
ROUTE = "<sip:core.livebox-lab;lr>"


def request(
    method: str = "INVITE",
    *,
    branch: str | None = "z9hG4bKcall1",
    sent_by: str = "192.0.2.10:5060",
    transport: str = "UDP",
    cseq: int = 1,
    call_id: str = "call-1@192.0.2.10",
    from_tag: str = "alice1",
    to_tag: str | None = None,
    uri: str = "sip:0145678902@core.livebox-lab",
    route: bool = False,
) -> Request:
    """A request from the box's VoIP line, as a phone would write it."""
    branch_param = "" if branch is None else f";branch={branch}"
    to_param = "" if to_tag is None else f";tag={to_tag}"
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {sent_by}{branch_param};rport\r\n"
        "Max-Forwards: 70\r\n"
        + (f"Route: {ROUTE}\r\n" if route else "")
        + f'From: "Alice" <sip:0145678901@core.livebox-lab>;tag={from_tag}\r\n'
        f"To: <sip:0145678902@core.livebox-lab>{to_param}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse(text.encode())
    assert isinstance(message, Request)
    return message


def answer(to: Request, status: int, to_tag: str = "bob1") -> Response:
    return response_to(to, status, to_tag=to_tag)


def without(message: Request, name: str) -> Request:
    return dataclasses.replace(message, headers=message.headers.remove(name))


def state(transaction: ClientTransaction | ServerTransaction) -> State:
    """The state now (a function, so that type checkers do not pin it from an earlier assert)."""
    return transaction.state


def summary(actions: list[Action]) -> list[str]:
    """Actions as short words: 'send INVITE', 'send 200', 'deliver 180', 'timed out'."""
    words = []
    for action in actions:
        if isinstance(action, Send):
            message = action.message
            words.append(
                f"send {message.method if isinstance(message, Request) else message.status}"
            )
        elif isinstance(action, Deliver):
            words.append(f"deliver {action.response.status}")
        else:
            words.append("timed out")
    return words


def run_until(layer: Transactions, until: float) -> list[tuple[float, list[str]]]:
    """Fire the timers one deadline at a time, as the I/O layer's loop would."""
    events = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        events.append((deadline, summary(layer.expire(deadline))))
    return events


def schedule(times: list[float], word: str, end: float, last: str) -> list[tuple[float, list[str]]]:
    return [(time, [word]) for time in times] + [(end, [last] if last else [])]


# --- client INVITE (RFC 3261 17.1.1, RFC 6026) -------------------------------------------


def test_invite_client_retransmits_at_t1_doubling_until_timer_b() -> None:
    layer = Transactions()
    invite = request()
    tx, actions = layer.send_request(invite, CORE, 0.0)
    assert actions == [Send(invite, CORE)]
    assert (tx.state, tx.method, tx.branch, tx.request, tx.peer) == (
        State.CALLING,
        "INVITE",
        "z9hG4bKcall1",
        invite,
        CORE,
    )
    assert layer.next_deadline() == 0.5
    assert layer.expire(0.49) == []
    assert run_until(layer, 100) == schedule(
        [0.5, 1.5, 3.5, 7.5, 15.5, 31.5], "send INVITE", 32.0, "timed out"
    )
    assert state(tx) is State.TERMINATED
    assert len(layer) == 0
    assert layer.next_deadline() is None


def test_a_late_expire_replays_the_missed_timers_in_deadline_order() -> None:
    layer = Transactions()
    invite = request()
    tx, _ = layer.send_request(invite, CORE, 0.0)
    actions = layer.expire(100.0)
    assert actions == [Send(invite, CORE)] * 6 + [TimedOut(tx)]


def test_expire_interleaves_the_timers_of_several_transactions_by_deadline() -> None:
    layer = Transactions()
    first = request(branch="z9hG4bKfirst")
    second = request(branch="z9hG4bKsecond", call_id="call-2@192.0.2.10")
    layer.send_request(first, CORE, 0.0)
    layer.send_request(second, CORE, 0.25)
    assert layer.expire(2.0) == [
        Send(first, CORE),  # 0.5
        Send(second, CORE),  # 0.75
        Send(first, CORE),  # 1.5
        Send(second, CORE),  # 1.75
    ]


def test_invite_client_over_tcp_never_retransmits_and_times_out_at_timer_b() -> None:
    layer = Transactions()
    tx, _ = layer.send_request(request(transport="TCP"), CORE_TCP, 10.0)
    assert run_until(layer, 100) == [(42.0, ["timed out"])]
    assert state(tx) is State.TERMINATED


def test_invite_client_provisional_stops_retransmissions_and_timer_b() -> None:
    layer = Transactions()
    invite = request()
    tx, _ = layer.send_request(invite, CORE, 0.0)
    ringing = answer(invite, 180)
    assert layer.receive_response(ringing, 0.25) == (tx, [Deliver(tx, ringing)])
    assert state(tx) is State.PROCEEDING
    progress = answer(invite, 183)
    assert layer.receive_response(progress, 0.75) == (tx, [Deliver(tx, progress)])
    assert run_until(layer, 100) == []
    assert state(tx) is State.PROCEEDING


def test_invite_client_gives_up_at_timer_c_when_the_phone_rings_forever() -> None:
    layer = Transactions(Timers(c=60.0))
    invite = request()
    tx, _ = layer.send_request(invite, CORE, 0.0)
    layer.receive_response(answer(invite, 180), 1.0)
    assert layer.next_deadline() == 61.0
    layer.receive_response(answer(invite, 180), 50.0)  # every provisional restarts Timer C
    assert run_until(layer, 1000) == [(110.0, ["timed out"])]
    assert state(tx) is State.TERMINATED


def test_invite_client_cancel_bounds_the_wait_for_the_final_response_to_64_t1() -> None:
    layer = Transactions()
    invite = request()
    invite_tx, _ = layer.send_request(invite, CORE, 0.0)
    layer.receive_response(answer(invite, 180), 1.0)
    cancel = build_cancel(invite)
    cancel_tx, actions = layer.send_request(cancel, CORE, 10.0)
    assert actions == [Send(cancel, CORE)]
    assert cancel_tx is not invite_tx
    assert cancel_tx.method == "CANCEL"
    cancelled = answer(cancel, 200)
    assert layer.receive_response(cancelled, 10.25) == (cancel_tx, [Deliver(cancel_tx, cancelled)])
    layer.receive_response(answer(invite, 180), 20.0)  # a late ring does not extend the bound
    assert run_until(layer, 1000) == [(15.25, []), (42.0, ["timed out"])]
    assert state(invite_tx) is State.TERMINATED


def test_invite_client_cancelled_before_any_provisional_keeps_the_bound_after_one() -> None:
    layer = Transactions()
    invite = request()
    invite_tx, _ = layer.send_request(invite, CORE, 0.0)
    cancel = build_cancel(invite)
    layer.send_request(cancel, CORE, 0.25)
    layer.receive_response(answer(cancel, 200), 0.5)
    layer.receive_response(answer(invite, 180), 1.0)
    assert run_until(layer, 1000) == [(5.5, []), (32.25, ["timed out"])]
    assert state(invite_tx) is State.TERMINATED


def test_invite_client_2xx_is_delivered_then_accepted_until_timer_m() -> None:
    layer = Transactions()
    invite = request()
    tx, _ = layer.send_request(invite, CORE, 0.0)
    ok = answer(invite, 200)
    assert layer.receive_response(ok, 2.0) == (tx, [Deliver(tx, ok)])
    assert state(tx) is State.ACCEPTED
    # RFC 6026: retransmitted and forked 2xx reach the TU, which ACKs each of them.
    assert layer.receive_response(ok, 2.5) == (tx, [Deliver(tx, ok)])
    forked = answer(invite, 200, to_tag="bob2")
    assert layer.receive_response(forked, 3.0) == (tx, [Deliver(tx, forked)])
    assert layer.receive_response(answer(invite, 486), 3.0) == (tx, [])
    assert layer.receive_response(answer(invite, 180), 3.0) == (tx, [])
    assert run_until(layer, 1000) == [(34.0, [])]
    assert state(tx) is State.TERMINATED
    assert layer.receive_response(ok, 40.0) == (None, [])


def test_invite_client_acks_a_busy_once_and_delivers_it_once_until_timer_d() -> None:
    layer = Transactions()
    invite = request(route=True)
    tx, _ = layer.send_request(invite, CORE, 0.0)
    busy = answer(invite, 486)
    matched, actions = layer.receive_response(busy, 1.0)
    ack = build_ack(invite, busy)
    assert matched is tx
    assert actions == [Send(ack, CORE), Deliver(tx, busy)]
    assert state(tx) is State.COMPLETED
    # A retransmitted final is ACKed again and not delivered.
    assert layer.receive_response(busy, 1.5) == (tx, [Send(ack, CORE)])
    assert layer.receive_response(answer(invite, 180), 1.5) == (tx, [])
    assert layer.receive_response(answer(invite, 200), 1.5) == (tx, [])
    assert run_until(layer, 1000) == [(33.0, [])]
    assert state(tx) is State.TERMINATED
    assert layer.receive_response(busy, 40.0) == (None, [])


def test_invite_client_over_tcp_ends_at_once_after_a_non_2xx_final() -> None:
    layer = Transactions()
    invite = request(transport="TCP")
    tx, _ = layer.send_request(invite, CORE_TCP, 0.0)
    busy = answer(invite, 486)
    assert summary(layer.receive_response(busy, 1.0)[1]) == ["send ACK", "deliver 486"]
    assert state(tx) is State.TERMINATED
    assert len(layer) == 0


def test_timer_d_is_its_own_value_not_64_t1() -> None:
    layer = Transactions(Timers(t1=0.125, d=40.0))
    invite = request()
    layer.send_request(invite, CORE, 0.0)
    layer.receive_response(answer(invite, 404), 1.0)
    assert run_until(layer, 1000) == [(41.0, [])]


# --- client non-INVITE (RFC 3261 17.1.2) ---------------------------------------------------


def test_non_invite_client_retransmits_at_t1_doubling_capped_at_t2_until_timer_f() -> None:
    layer = Transactions()
    bye = request("BYE", to_tag="bob1", cseq=2)
    tx, actions = layer.send_request(bye, CORE, 0.0)
    assert actions == [Send(bye, CORE)]
    assert state(tx) is State.TRYING
    times = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert run_until(layer, 100) == schedule(times, "send BYE", 32.0, "timed out")
    assert state(tx) is State.TERMINATED


def test_non_invite_client_in_proceeding_retransmits_every_t2() -> None:
    layer = Transactions()
    register = request("REGISTER", uri="sip:core.livebox-lab")
    tx, _ = layer.send_request(register, CORE, 0.0)
    trying = answer(register, 100)
    assert layer.receive_response(trying, 0.25) == (tx, [Deliver(tx, trying)])
    assert state(tx) is State.PROCEEDING
    times = [0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5]
    assert run_until(layer, 100) == schedule(times, "send REGISTER", 32.0, "timed out")


def test_non_invite_client_delivers_its_final_once_then_absorbs_it_until_timer_k() -> None:
    layer = Transactions()
    register = request("REGISTER", uri="sip:core.livebox-lab")
    tx, _ = layer.send_request(register, CORE, 0.0)
    ok = answer(register, 200)
    assert layer.receive_response(ok, 1.0) == (tx, [Deliver(tx, ok)])
    assert state(tx) is State.COMPLETED
    assert layer.receive_response(ok, 1.5) == (tx, [])
    assert run_until(layer, 100) == [(6.0, [])]
    assert state(tx) is State.TERMINATED


def test_non_invite_client_over_tcp_sends_once_and_ends_with_its_final() -> None:
    layer = Transactions()
    register = request("REGISTER", uri="sip:core.livebox-lab", transport="TCP")
    tx, _ = layer.send_request(register, CORE_TCP, 0.0)
    assert layer.next_deadline() == 32.0  # Timer F only, no Timer E
    unauthorized = answer(register, 401)
    assert layer.receive_response(unauthorized, 0.5) == (tx, [Deliver(tx, unauthorized)])
    assert state(tx) is State.TERMINATED
    assert layer.next_deadline() is None


def test_responses_match_by_branch_and_cseq_method() -> None:
    layer = Transactions()
    invite = request()
    invite_tx, _ = layer.send_request(invite, CORE, 0.0)
    layer.receive_response(answer(invite, 180), 0.25)
    cancel = build_cancel(invite)
    cancel_tx, _ = layer.send_request(cancel, CORE, 1.0)
    assert layer.receive_response(answer(cancel, 200), 1.25)[0] is cancel_tx
    matched, actions = layer.receive_response(answer(invite, 487), 1.25)
    assert matched is invite_tx
    assert summary(actions) == ["send ACK", "deliver 487"]


def test_a_response_no_transaction_expects_comes_back_unmatched() -> None:
    layer = Transactions()
    invite = request()
    layer.send_request(invite, CORE, 0.0)
    stray = answer(request(branch="z9hG4bKother"), 200)
    assert layer.receive_response(stray, 1.0) == (None, [])
    no_via = answer(invite, 200)
    no_via = dataclasses.replace(no_via, headers=no_via.headers.remove("Via"))
    assert layer.receive_response(no_via, 1.0) == (None, [])
    assert layer.receive_response(answer(request(branch=None), 200), 1.0) == (None, [])
    bad_via = dataclasses.replace(no_via, headers=no_via.headers.add("Via", "garbage"))
    assert layer.receive_response(bad_via, 1.0) == (None, [])


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (request("ACK"), "an ACK is never sent in a client transaction"),
        (request(branch="1234"), "INVITE request has branch '1234' in its top Via"),
        (request(branch=None), "INVITE request has branch None in its top Via"),
        (without(request(), "Via"), "INVITE request has no Via header"),
        (without(request(), "CSeq"), "INVITE request has no CSeq header"),
        (without(request(), "Call-ID"), "INVITE request has no Call-ID header"),
        (
            dataclasses.replace(request(), method="OPTIONS"),
            "OPTIONS request has CSeq method INVITE: responses would never match it",
        ),
    ],
)
def test_send_request_refuses_what_no_client_transaction_can_carry(
    message: Request, error: str
) -> None:
    layer = Transactions()
    with pytest.raises(TransactionError, match=error):
        layer.send_request(message, CORE, 0.0)
    assert len(layer) == 0


def test_send_request_refuses_a_branch_a_live_transaction_holds() -> None:
    layer = Transactions()
    layer.send_request(request(), CORE, 0.0)
    with pytest.raises(TransactionError, match="branch 'z9hG4bKcall1' already belongs"):
        layer.send_request(request(cseq=2), CORE, 1.0)


# --- server INVITE (RFC 3261 17.2.1, RFC 6026) ----------------------------------------------


def test_invite_server_starts_in_proceeding_and_leaves_the_100_trying_to_the_tu() -> None:
    layer = Transactions()
    invite = request()
    incoming = layer.receive_request(invite, PHONE, 0.0)
    tx = incoming.transaction
    assert isinstance(tx, ServerTransaction)
    assert incoming == Incoming(tx, [], True)
    assert (tx.state, tx.method, tx.request, tx.peer, tx.last_response) == (
        State.PROCEEDING,
        "INVITE",
        invite,
        PHONE,
        None,
    )
    # Nothing to send yet: the retransmission is only absorbed.
    assert layer.receive_request(invite, PHONE, 0.5) == Incoming(tx, [], False)
    trying = answer(invite, 100, to_tag="")
    assert layer.respond(tx, trying, 0.5) == [Send(trying, PHONE)]
    assert layer.receive_request(invite, PHONE, 1.0) == Incoming(tx, [Send(trying, PHONE)], False)
    ringing = answer(invite, 180)
    layer.respond(tx, ringing, 1.0)
    assert layer.receive_request(invite, PHONE, 1.5) == Incoming(tx, [Send(ringing, PHONE)], False)
    assert tx.last_response is ringing
    assert layer.next_deadline() is None


def test_invite_server_retransmits_a_non_2xx_at_timer_g_capped_at_t2_until_timer_h() -> None:
    layer = Transactions()
    invite = request()
    incoming = layer.receive_request(invite, PHONE, 0.0)
    tx = incoming.transaction
    assert tx is not None
    busy = answer(invite, 486)
    assert layer.respond(tx, busy, 0.0) == [Send(busy, PHONE)]
    assert state(tx) is State.COMPLETED
    assert layer.receive_request(invite, PHONE, 0.25) == Incoming(tx, [Send(busy, PHONE)], False)
    times = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert run_until(layer, 100) == schedule(times, "send 486", 32.0, "timed out")
    assert state(tx) is State.TERMINATED


def test_invite_server_ack_to_a_non_2xx_confirms_and_timer_i_ends_it() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    busy = answer(invite, 486)
    layer.respond(tx, busy, 0.0)
    ack = build_ack(invite, busy)  # same branch as the INVITE
    assert layer.receive_request(ack, PHONE, 1.0) == Incoming(tx, [], False)
    assert state(tx) is State.CONFIRMED
    assert layer.receive_request(ack, PHONE, 2.0) == Incoming(tx, [], False)
    assert layer.receive_request(invite, PHONE, 2.0) == Incoming(tx, [], False)
    assert run_until(layer, 100) == [(6.0, [])]  # no Timer G any more, Timer I = T4
    assert state(tx) is State.TERMINATED


def test_invite_server_over_tcp_never_retransmits_and_ends_with_the_ack() -> None:
    layer = Transactions()
    invite = request(transport="TCP")
    tx = layer.receive_request(invite, PHONE_TCP, 0.0).transaction
    assert tx is not None
    busy = answer(invite, 486)
    layer.respond(tx, busy, 0.0)
    assert layer.next_deadline() == 32.0  # Timer H only
    assert layer.receive_request(build_ack(invite, busy), PHONE_TCP, 1.0) == Incoming(tx, [], False)
    assert state(tx) is State.TERMINATED  # Timer I = 0
    assert len(layer) == 0


def test_invite_server_over_tcp_without_ack_times_out_at_timer_h() -> None:
    layer = Transactions()
    invite = request(transport="TCP")
    tx = layer.receive_request(invite, PHONE_TCP, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 603), 0.0)
    assert layer.expire(100.0) == [TimedOut(tx)]


def test_invite_server_retransmits_its_2xx_until_the_ack_comes() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    ok = answer(invite, 200)
    assert layer.respond(tx, ok, 0.0) == [Send(ok, PHONE)]
    assert state(tx) is State.ACCEPTED
    assert run_until(layer, 2.0) == [(0.5, ["send 200"]), (1.5, ["send 200"])]
    ack = request("ACK", branch="z9hG4bKack1", to_tag="bob1")
    assert layer.receive_request(ack, PHONE, 2.0) == Incoming(tx, [], True)
    assert run_until(layer, 100) == [(32.0, [])]  # Timer L, without TimedOut
    assert state(tx) is State.TERMINATED
    assert layer.receive_request(ack, PHONE, 40.0) == Incoming(None, [], True)


def test_invite_server_2xx_never_acked_times_out_at_timer_l() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    times = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert run_until(layer, 100) == schedule(times, "send 200", 32.0, "timed out")
    assert len(layer) == 0


def test_invite_server_over_tcp_leaves_its_2xx_alone_but_waits_timer_l() -> None:
    layer = Transactions()
    invite = request(transport="TCP")
    tx = layer.receive_request(invite, PHONE_TCP, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    assert layer.next_deadline() == 32.0
    ack = request("ACK", branch="z9hG4bKack1", transport="TCP", to_tag="bob1")
    assert layer.receive_request(ack, PHONE_TCP, 0.5) == Incoming(tx, [], True)
    assert layer.expire(32.0) == []


def test_invite_server_resends_its_2xx_to_a_retransmitted_invite_and_keeps_it_from_the_tu() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    ok = answer(invite, 200)
    layer.respond(tx, ok, 0.0)
    assert layer.receive_request(invite, PHONE, 0.25) == Incoming(tx, [Send(ok, PHONE)], False)


def test_invite_server_sends_a_2xx_the_tu_repeats_and_retransmits_the_latest() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    again = answer(invite, 200)
    assert layer.respond(tx, again, 0.25) == [Send(again, PHONE)]
    assert layer.expire(0.5) == [Send(again, PHONE)]


# --- ACK matching ------------------------------------------------------------------------------


def test_ack_to_a_2xx_matches_leniently_by_call_id_cseq_number_and_from_tag() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    # A new branch, another sent-by and the Contact as Request-URI: still this 2xx's ACK.
    ack = request(
        "ACK",
        branch="z9hG4bKack1",
        sent_by="198.51.100.7:5062",
        to_tag="bob1",
        uri="sip:0145678902@192.0.2.20:5060",
    )
    assert layer.receive_request(ack, PHONE, 0.25) == Incoming(tx, [], True)
    assert layer.expire(10.0) == []  # the 2xx is no longer retransmitted


def test_pyvoip_ack_with_the_invite_branch_and_a_fresh_to_tag_matches_the_2xx() -> None:
    # pyVoIP copies the Vias of the 200 (branch of the INVITE, received and rport added)
    # and appends a random To tag of its own.
    layer = Transactions()
    invite = request(branch="z9hG4bKpyvoip1")
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    ack = parse(
        b"ACK sip:0145678902@core.livebox-lab SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKpyvoip1;rport=5060;received=192.0.2.10\r\n"
        b"Max-Forwards: 70\r\n"
        b"To: <sip:0145678902@core.livebox-lab>;tag=8f3a2c1b\r\n"
        b'From: "Alice" <sip:0145678901@core.livebox-lab>;tag=alice1\r\n'
        b"Call-ID: call-1@192.0.2.10\r\n"
        b"CSeq: 1 ACK\r\n"
        b"User-Agent: pyVoIP 1.6.8\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(ack, Request)
    assert layer.receive_request(ack, PHONE, 0.25) == Incoming(tx, [], True)
    assert layer.expire(10.0) == []


def test_a_fresh_branch_ack_with_a_wrong_to_tag_still_matches_the_2xx() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    ack = request("ACK", branch="z9hG4bKack1", to_tag="random99")
    assert layer.receive_request(ack, PHONE, 0.25) == Incoming(tx, [], True)


def test_an_ack_no_transaction_absorbs_goes_to_the_tu_without_one() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    stray = request("ACK", branch="z9hG4bKack1", to_tag="bob1")
    assert layer.receive_request(stray, PHONE, 0.25) == Incoming(None, [], True)
    # Same branch, but the INVITE has no final response yet: nothing to acknowledge.
    early = request("ACK", to_tag="bob1")
    assert layer.receive_request(early, PHONE, 0.25) == Incoming(None, [], True)
    layer.respond(tx, answer(invite, 200), 0.5)
    other_call = request("ACK", branch="z9hG4bKack2", call_id="call-9@192.0.2.10", to_tag="bob1")
    assert layer.receive_request(other_call, PHONE, 0.75) == Incoming(None, [], True)
    other_cseq = request("ACK", branch="z9hG4bKack3", cseq=2, to_tag="bob1")
    assert layer.receive_request(other_cseq, PHONE, 0.75) == Incoming(None, [], True)
    assert summary(layer.expire(1.0)) == ["send 200"]  # still waiting for its own ACK


# --- respond -------------------------------------------------------------------------------------


def test_respond_refuses_a_status_out_of_range() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    with pytest.raises(TransactionError, match="status 700 is not from 100 to 699"):
        layer.respond(tx, dataclasses.replace(answer(invite, 600), status=700), 0.0)


def test_respond_refuses_a_second_final_after_a_non_2xx() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 486), 0.0)
    with pytest.raises(
        TransactionError,
        match="the INVITE server transaction already sent 486: it cannot send a 200",
    ):
        layer.respond(tx, answer(invite, 200), 0.5)


def test_respond_refuses_anything_but_a_2xx_after_a_2xx() -> None:
    layer = Transactions()
    invite = request()
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    with pytest.raises(TransactionError, match="already sent 200: it cannot send a 180"):
        layer.respond(tx, answer(invite, 180), 0.5)


def test_respond_refuses_a_terminated_transaction() -> None:
    layer = Transactions()
    bye = request("BYE", transport="TCP", to_tag="bob1", cseq=2)
    tx = layer.receive_request(bye, PHONE_TCP, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(bye, 200), 0.0)
    with pytest.raises(
        TransactionError, match="the BYE server transaction is terminated: it cannot send a 200"
    ):
        layer.respond(tx, answer(bye, 200), 0.5)


# --- server non-INVITE (RFC 3261 17.2.2) ---------------------------------------------------------


def test_non_invite_server_repeats_its_last_response_to_retransmissions_until_timer_j() -> None:
    layer = Transactions()
    bye = request("BYE", to_tag="bob1", cseq=2)
    incoming = layer.receive_request(bye, PHONE, 0.0)
    tx = incoming.transaction
    assert tx is not None
    assert incoming.new
    assert state(tx) is State.TRYING
    assert layer.receive_request(bye, PHONE, 0.5) == Incoming(tx, [], False)
    trying = answer(bye, 100)
    layer.respond(tx, trying, 0.5)
    assert state(tx) is State.PROCEEDING
    assert layer.receive_request(bye, PHONE, 1.0) == Incoming(tx, [Send(trying, PHONE)], False)
    ok = answer(bye, 200)
    assert layer.respond(tx, ok, 1.0) == [Send(ok, PHONE)]
    assert state(tx) is State.COMPLETED
    assert layer.receive_request(bye, PHONE, 2.0) == Incoming(tx, [Send(ok, PHONE)], False)
    with pytest.raises(TransactionError, match="already sent 200"):
        layer.respond(tx, answer(bye, 500), 2.0)
    assert run_until(layer, 100) == [(33.0, [])]
    assert state(tx) is State.TERMINATED
    # After Timer J the same request is new again.
    assert layer.receive_request(bye, PHONE, 40.0).new


def test_non_invite_server_over_tcp_ends_with_its_final() -> None:
    layer = Transactions()
    options = request("OPTIONS", transport="TCP")
    tx = layer.receive_request(options, PHONE_TCP, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(options, 200), 0.0)
    assert state(tx) is State.TERMINATED  # Timer J = 0
    assert len(layer) == 0
    assert layer.next_deadline() is None


def test_server_matching_takes_branch_sent_by_and_method() -> None:
    layer = Transactions()
    first = layer.receive_request(request(), PHONE, 0.0).transaction
    elsewhere = request(sent_by="198.51.100.7:5060")
    assert layer.receive_request(elsewhere, PHONE, 0.0).new
    same_branch_options = request("OPTIONS")
    assert layer.receive_request(same_branch_options, PHONE, 0.0).new
    assert layer.receive_request(request(), PHONE, 0.5).transaction is first
    assert len(layer) == 3


# --- CANCEL (RFC 3261 9.2) ---------------------------------------------------------------------


def test_cancel_is_a_transaction_of_its_own_that_finds_the_invite_it_cancels() -> None:
    layer = Transactions()
    invite = request()
    invite_tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert invite_tx is not None
    layer.respond(invite_tx, answer(invite, 180), 0.0)
    cancel = build_cancel(invite)
    incoming = layer.receive_request(cancel, PHONE, 1.0)
    cancel_tx = incoming.transaction
    assert incoming.new
    assert cancel_tx is not None
    assert cancel_tx is not invite_tx
    assert cancel_tx.method == "CANCEL"
    assert layer.invite_for_cancel(cancel) is invite_tx
    layer.respond(cancel_tx, answer(cancel, 200), 1.0)
    terminated = answer(invite, 487)
    layer.respond(invite_tx, terminated, 1.0)
    assert layer.receive_request(build_ack(invite, terminated), PHONE, 1.5).transaction is invite_tx
    assert state(invite_tx) is State.CONFIRMED


def test_a_cancel_for_no_live_invite_finds_none() -> None:
    layer = Transactions()
    layer.receive_request(request(), PHONE, 0.0)
    assert layer.invite_for_cancel(build_cancel(request(branch="z9hG4bKother"))) is None
    assert layer.invite_for_cancel(build_cancel(request(sent_by="198.51.100.7"))) is None
    assert layer.invite_for_cancel(without(build_cancel(request()), "Via")) is None


def test_a_cancel_finds_an_rfc2543_invite() -> None:
    layer = Transactions()
    invite = request(branch=None)
    invite_tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert layer.invite_for_cancel(build_cancel(invite)) is invite_tx
    assert layer.invite_for_cancel(build_cancel(request(branch=None, cseq=7))) is None


# --- RFC 2543 matching (RFC 3261 17.2.3) ----------------------------------------------------------


def test_rfc2543_requests_match_by_uri_tags_call_id_cseq_and_top_via() -> None:
    layer = Transactions()
    invite = request(branch=None)
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    assert layer.receive_request(request(branch=None), PHONE, 0.5) == Incoming(tx, [], False)
    for other in (
        request(branch=None, uri="sip:0145678903@core.livebox-lab"),
        request(branch=None, from_tag="alice2"),
        request(branch=None, call_id="call-2@192.0.2.10"),
        request(branch=None, cseq=2),
        request(branch=None, sent_by="192.0.2.10:5070"),
        request(branch=None, to_tag="bob9"),
        request(branch="1234"),  # a branch without the magic cookie counts for nothing
    ):
        assert layer.receive_request(other, PHONE, 0.5).new, other
    assert len(layer) == 8


def test_rfc2543_ack_matches_with_the_to_tag_of_the_final_response() -> None:
    layer = Transactions()
    invite = request(branch=None)
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 486, to_tag="bob1"), 0.0)
    wrong_tag = request("ACK", branch=None, to_tag="bob2")
    assert layer.receive_request(wrong_tag, PHONE, 0.5) == Incoming(None, [], True)
    ack = request("ACK", branch=None, to_tag="bob1")
    assert layer.receive_request(ack, PHONE, 0.5) == Incoming(tx, [], False)
    assert state(tx) is State.CONFIRMED


def test_rfc2543_ack_inside_a_dialog_matches_a_reinvite_that_had_the_to_tag() -> None:
    layer = Transactions()
    reinvite = request(branch=None, cseq=2, to_tag="bob1")
    tx = layer.receive_request(reinvite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(reinvite, 488), 0.0)
    ack = request("ACK", branch=None, cseq=2, to_tag="bob1")
    assert layer.receive_request(ack, PHONE, 0.5) == Incoming(tx, [], False)


def test_rfc2543_ack_to_a_2xx_stops_its_retransmission() -> None:
    layer = Transactions()
    invite = request(branch=None)
    tx = layer.receive_request(invite, PHONE, 0.0).transaction
    assert tx is not None
    layer.respond(tx, answer(invite, 200), 0.0)
    ack = request("ACK", branch=None, to_tag="bob1")
    assert layer.receive_request(ack, PHONE, 0.25) == Incoming(tx, [], True)
    assert layer.expire(10.0) == []


@pytest.mark.parametrize("missing", ["To", "From", "Call-ID", "CSeq"])
def test_rfc2543_request_missing_a_header_still_reaches_the_tu_for_its_400(missing: str) -> None:
    layer = Transactions()
    message = without(request(branch=None), missing)
    incoming = layer.receive_request(message, PHONE, 0.0)
    assert incoming.new
    assert incoming.transaction is not None
    assert layer.receive_request(message, PHONE, 0.5) == Incoming(incoming.transaction, [], False)


def test_rfc2543_request_with_a_malformed_from_still_reaches_the_tu() -> None:
    broken = request(branch=None)
    broken = dataclasses.replace(broken, headers=broken.headers.set("From", "<sip:a@b;tag=x"))
    assert Transactions().receive_request(broken, PHONE, 0.0).new
    ack = dataclasses.replace(broken, method="ACK")
    assert Transactions().receive_request(ack, PHONE, 0.0) == Incoming(None, [], True)


def test_a_request_without_via_cannot_be_matched() -> None:
    layer = Transactions()
    with pytest.raises(TransactionError, match="OPTIONS request has no Via header"):
        layer.receive_request(without(request("OPTIONS"), "Via"), PHONE, 0.0)


# --- a bounded table ----------------------------------------------------------------------------


def numbering(base: Request, status: int) -> Callable[[int], tuple[Request, Response]]:
    """Copies of `base` with a branch of their own, each with its `status` answer."""
    request_headers = base.headers.remove("Via")
    reply = answer(base, status)
    response_headers = reply.headers.remove("Via")
    transport = parse_via(base.headers.get("Via") or "").transport

    def numbered(number: int) -> tuple[Request, Response]:
        via = f"SIP/2.0/{transport} 192.0.2.10:5060;branch=z9hG4bK{number:x}"
        return (
            Request(base.method, base.uri, request_headers.add("Via", via, first=True)),
            Response(reply.status, reply.reason, response_headers.add("Via", via, first=True)),
        )

    return numbered


def test_table_is_empty_after_100000_answered_requests_and_their_timers() -> None:
    layer = Transactions()
    options = numbering(request("OPTIONS"), 200)
    for number in range(100_000):
        now = number / 10_000
        received, ok = options(number)
        incoming = layer.receive_request(received, PHONE, now)
        assert incoming.transaction is not None
        layer.respond(incoming.transaction, ok, now)
        layer.expire(now)
    assert len(layer) == 100_000  # Timer J keeps each for 64*T1
    assert layer.expire(1_000.0) == []
    assert len(layer) == 0
    assert layer.next_deadline() is None
    assert layer._heap == []


def test_client_table_is_empty_after_answered_invites_and_their_timers() -> None:
    layer = Transactions()
    invite = numbering(request(), 200)
    for number in range(20_000):
        now = number / 10_000
        sent, ok = invite(number)
        layer.send_request(sent, CORE, now)
        layer.receive_response(ok, now)
        layer.expire(now)
    assert len(layer) == 20_000  # Timer M keeps each for 64*T1
    layer.expire(1_000.0)
    assert len(layer) == 0
    assert layer._heap == []


def test_finished_transactions_leave_no_pile_of_stale_timers() -> None:
    layer = Transactions()
    register = numbering(request("REGISTER", uri="sip:core.livebox-lab", transport="TCP"), 200)
    for number in range(20_000):
        sent, ok = register(number)
        layer.send_request(sent, CORE_TCP, 0.0)
        layer.receive_response(ok, 0.0)
    # Each left a stale Timer F; the heap is rebuilt before they hold much memory.
    assert len(layer) == 0
    assert len(layer._heap) <= 1025
    assert layer.next_deadline() is None


def test_a_flood_of_unanswered_invites_is_forgotten_after_timer_b() -> None:
    layer = Transactions()
    invite = numbering(request(), 200)
    for number in range(5_000):
        layer.send_request(invite(number)[0], CORE, number / 100)
    assert len(layer) == 5_000
    timed_out = [action for action in layer.expire(1_000.0) if isinstance(action, TimedOut)]
    assert len(timed_out) == 5_000
    assert len(layer) == 0


# --- ACK and CANCEL construction ---------------------------------------------------------------


def test_build_ack_copies_the_invite_top_via_route_and_the_response_to() -> None:
    invite = request(route=True)
    invite = dataclasses.replace(
        invite, headers=invite.headers.add("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKlower")
    )
    busy = answer(invite, 486)
    ack = build_ack(invite, busy)
    assert ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.body == b""
    assert list(ack.headers) == [
        ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcall1;rport"),
        ("Max-Forwards", "70"),
        ("Route", ROUTE),
        ("From", '"Alice" <sip:0145678901@core.livebox-lab>;tag=alice1'),
        ("To", "<sip:0145678902@core.livebox-lab>;tag=bob1"),
        ("Call-ID", "call-1@192.0.2.10"),
        ("CSeq", "1 ACK"),
    ]


def test_build_cancel_copies_the_branch_uri_tags_and_cseq_number() -> None:
    invite = request(route=True, cseq=5)
    cancel = build_cancel(invite)
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert list(cancel.headers) == [
        ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcall1;rport"),
        ("Max-Forwards", "70"),
        ("Route", ROUTE),
        ("From", '"Alice" <sip:0145678901@core.livebox-lab>;tag=alice1'),
        ("To", "<sip:0145678902@core.livebox-lab>"),
        ("Call-ID", "call-1@192.0.2.10"),
        ("CSeq", "5 CANCEL"),
    ]


def test_build_ack_refuses_a_2xx() -> None:
    invite = request()
    with pytest.raises(TransactionError, match="a 200 is not acknowledged by the transaction"):
        build_ack(invite, answer(invite, 200))


def test_build_ack_and_cancel_refuse_anything_but_an_invite() -> None:
    bye = request("BYE", to_tag="bob1")
    with pytest.raises(TransactionError, match="ACK is built for an INVITE, not for a BYE"):
        build_ack(bye, answer(bye, 481))
    with pytest.raises(TransactionError, match="CANCEL is built for an INVITE, not for a BYE"):
        build_cancel(bye)


def test_build_cancel_names_the_header_it_misses() -> None:
    with pytest.raises(TransactionError, match="the INVITE has no Call-ID header"):
        build_cancel(without(request(), "Call-ID"))


# --- timers and the TU's slot -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"t1": 0.0}, "Timers t1 must be more than 0 seconds, got 0.0"),
        ({"t1": 5.0}, r"Timers t2 \(4.0\) must be at least t1 \(5.0\)"),
        ({"t4": -1.0}, "Timers t4 must be 0 seconds or more"),
        ({"d": -1.0}, "Timers d must be 0 seconds or more"),
        ({"c": 0.0}, "Timers c must be more than 0 seconds"),
    ],
)
def test_timers_refuse_values_that_would_break_the_machines(
    values: dict[str, float], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        Timers(**values)


def test_shorter_timers_scale_every_machine() -> None:
    layer = Transactions(Timers(t1=0.125, t2=1.0, t4=1.25))
    invite = request()
    tx, _ = layer.send_request(invite, CORE, 0.0)
    assert run_until(layer, 100) == schedule(
        [0.125, 0.375, 0.875, 1.875, 3.875, 7.875], "send INVITE", 8.0, "timed out"
    )
    assert state(tx) is State.TERMINATED


def test_context_is_free_for_the_transaction_user() -> None:
    layer = Transactions()
    client, _ = layer.send_request(request(), CORE, 0.0)
    server = layer.receive_request(request(branch="z9hG4bKin"), PHONE, 0.0).transaction
    assert isinstance(client, ClientTransaction)
    assert server is not None
    assert (client.context, server.context) == (None, None)
    client.context = "leg A"
    server.context = "leg B"
    assert (client.context, server.context) == ("leg A", "leg B")
    assert "INVITE" in repr(client)
    assert "INVITE" in repr(server)
