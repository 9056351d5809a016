"""The sides of a call as the operator core plays them: SIP dialogs, virtual phones, voicemail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.sip.compose import new_branch, new_call_id, new_tag, request, response_to
from emulator.sip.headers import parse_contact, parse_cseq, parse_name_addr
from emulator.sip.message import Request, Response
from emulator.sip.transaction import ServerTransaction, build_cancel
from emulator.telephony.phone import VirtualPhone

if TYPE_CHECKING:
    from emulator.telephony.calls import Call
    from emulator.telephony.core import OperatorCore
    from emulator.telephony.registrar import Binding

SDP = "application/sdp"


class SipOrigin:
    """The caller's dialog when the caller is a SIP user agent: the core is its UAS.

    Tolerances for pyVoIP 1.6.8, made here: responses go to the INVITE's source address (the
    transaction's peer) whatever Via says, and the caller's ACK and BYE are matched by
    Call-ID alone (pyVoIP's ACK does not always carry the To tag it was given).
    """

    phone: VirtualPhone | None = None

    def __init__(self, core: OperatorCore, invite: ServerTransaction, to_tag: str) -> None:
        self.core = core
        self.invite = invite
        self.request = invite.request
        self.to_tag = to_tag
        self.call: Call | None = None
        self.call_id = self.request.headers.get("Call-ID") or ""
        self.answer = b""
        self._cseq = 0
        self._closed = False

    def ringing(self) -> None:
        self._respond(180)

    def connected(self, answer: bytes) -> None:
        self.answer = answer or self.core.media_offer()
        self._respond(200, body=self.answer)

    def failed(self, status: int) -> None:
        self._respond(final_status(self.request, status))
        self.close()

    def released(self) -> None:
        """The other side hung up: send BYE in the caller's dialog."""
        headers = self.request.headers
        contact = headers.get("Contact")
        target = self.request.uri
        if contact:
            parsed = parse_contact(contact)
            if parsed != "*":
                target = parsed.uri
        self._cseq += 1
        bye = request(
            "BYE",
            target,
            via=self.core.endpoint.via("UDP", new_branch()),
            sender=f"{headers.get('To')};tag={self.to_tag}",
            to=headers.get("From") or "",
            call_id=self.call_id,
            cseq=self._cseq,
        )
        self.core.send_request(bye, self.invite.peer, None)
        self.close()

    def bye_received(self) -> None:
        self.close()
        if self.call is not None:
            self.call.caller_gave_up()

    def cancelled(self) -> None:
        self._respond(487)
        self.close()
        if self.call is not None:
            self.call.caller_gave_up()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.core.forget_dialog(self.call_id, self)

    def _respond(self, status: int, *, body: bytes = b"") -> None:
        extra = [("Contact", self.core.contact)]
        if body:
            extra.append(("Content-Type", SDP))
        response = response_to(self.request, status, to_tag=self.to_tag, headers=extra, body=body)
        self.core.respond(self.invite, response)


def final_status(request: Request, status: int) -> int:
    """The failure status to send a caller: `status`, except to pyVoIP 1.6.8, which ends a call
    only on 404 and 503 and dials for ever on any other (the call keeps the real cause)."""
    if status in (404, 503) or not (request.headers.get("User-Agent") or "").startswith("pyVoIP"):
        return status
    return 503


class SipAttempt:
    """A try at a registered SIP user agent: the core is its UAC, in a dialog of its own."""

    phone: VirtualPhone | None = None

    def __init__(self, core: OperatorCore, call: Call, number: str, binding: Binding) -> None:
        self.core = core
        self.call = call
        self.number = number
        self.binding = binding
        self.call_id = new_call_id(core.host)
        self.from_tag = new_tag()
        self.invite: Request | None = None
        self.remote_tag: str | None = None
        self.remote_target = binding.contact
        self.provisional = False
        self.answered = False
        self._ended = False

    def start(self, offer: bytes) -> None:
        core = self.core
        fields = [("Contact", core.contact), ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")]
        for value in self.call.diversions.history_info(core.domain) if self.call.hops else ():
            fields.append(("History-Info", value))
        for value in self.call.diversions.diversion(core.domain) if self.call.hops else ():
            fields.append(("Diversion", value))
        fields.append(("Content-Type", SDP))
        self.invite = request(
            "INVITE",
            self.binding.contact,
            via=core.endpoint.via(self.binding.peer.transport, new_branch()),
            sender=f"<sip:{self.call.caller}@{core.domain};user=phone>;tag={self.from_tag}",
            to=f"<sip:{self.number}@{core.domain};user=phone>",
            call_id=self.call_id,
            cseq=1,
            headers=fields,
            body=offer or core.media_offer(),
            max_forwards=69,  # one hop spent: the core is a B2BUA, not the caller
        )
        core.dialogs[self.call_id] = self
        core.send_request(self.invite, self.binding.peer, self)

    def on_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if status > 100:
                self.provisional = True
                self.call.callee_ringing(self)
            return
        if status < 300:
            self._accept(response)
            return
        self._end()
        self.call.callee_failed(self, status)

    def on_timeout(self) -> None:
        if not self.answered:
            self._end()
            self.call.callee_failed(self, 408)

    def _accept(self, response: Response) -> None:
        """A 2xx: ACK it (each retransmission too), then tell the call once."""
        headers = response.headers
        if self.remote_tag is None:
            self.remote_tag = parse_name_addr(headers.get("To") or "").tag
            contact = headers.get("Contact")
            if contact:
                parsed = parse_contact(contact)
                if parsed != "*":
                    self.remote_target = parsed.uri
        number = parse_cseq(headers.get("CSeq") or "1 INVITE").seq
        self.core.send_stateless(self._in_dialog("ACK", number), self.binding.peer)
        if self.answered:
            return  # a retransmitted 2xx: ACKed again, nothing more
        self.answered = True
        if self._ended:
            # A 2xx that raced our CANCEL (pyVoIP answers a cancelled call): hang it up.
            self.core.send_request(self._in_dialog("BYE", 2), self.binding.peer, None)
            return
        self.call.callee_answered(self, response.body, self.number)

    def cancel(self) -> None:
        if self.invite is not None and not self.answered and not self._ended:
            self.core.send_request(build_cancel(self.invite), self.binding.peer, None)
        self._end()

    def release(self) -> None:
        if self.answered and not self._ended:
            self.core.send_request(self._in_dialog("BYE", 2), self.binding.peer, None)
        self._end()

    def bye_received(self) -> None:
        self._end()
        self.call.callee_hung_up(self)

    def _in_dialog(self, method: str, cseq: int) -> Request:
        to = f"<sip:{self.number}@{self.core.domain};user=phone>"
        if self.remote_tag:
            to += f";tag={self.remote_tag}"
        return request(
            method,
            self.remote_target,
            via=self.core.endpoint.via(self.binding.peer.transport, new_branch()),
            sender=f"<sip:{self.call.caller}@{self.core.domain};user=phone>;tag={self.from_tag}",
            to=to,
            call_id=self.call_id,
            cseq=cseq,
        )

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            # Kept a little: a 2xx racing our CANCEL must still find us to be ACKed and hung up.
            self.core.forget_dialog(self.call_id, self, linger=True)


class PhoneOrigin:
    """The caller's side when the caller is a virtual phone."""

    def __init__(self, phone: VirtualPhone) -> None:
        self.phone: VirtualPhone | None = phone

    def ringing(self) -> None:
        pass

    def connected(self, answer: bytes) -> None:
        if self.phone is not None:
            self.phone.connected()

    def failed(self, status: int) -> None:
        if self.phone is not None:
            self.phone.released()

    def released(self) -> None:
        if self.phone is not None:
            self.phone.released()


class PhoneAttempt:
    """A try at a virtual phone: it rings, or is busy.

    With `call_waiting` (a classic line service), a phone already in a call does not answer
    busy: the subscriber hears the waiting tone and the caller hears ringing, until the phone
    is free to answer or the call goes to voicemail or is forwarded on no answer.
    """

    def __init__(
        self,
        core: OperatorCore,
        call: Call,
        phone: VirtualPhone,
        presented: str,
        call_waiting: bool,
    ) -> None:
        self.core = core
        self.call = call
        self.phone: VirtualPhone | None = phone
        self.presented = presented
        self.call_waiting = call_waiting

    def start(self, offer: bytes) -> None:
        phone = self.phone
        assert phone is not None
        waiting = self.call_waiting and phone.call is not None and not phone.behaviour.busy
        if phone.offer(self.call, self.presented) or waiting:
            self.call.callee_ringing(self)
        else:
            # Reported from the loop, not from inside the call's own step.
            self.core.soon(lambda: self.call.callee_failed(self, 486))

    def cancel(self) -> None:
        if self.phone is not None and self.phone.call is self.call:
            self.phone.released()

    def release(self) -> None:
        self.cancel()


class VoicemailAttempt:
    """The classic line's voicemail: answers at once, records, and waits for the caller to go."""

    phone: VirtualPhone | None = None

    def __init__(self, core: OperatorCore, call: Call, number: str) -> None:
        self.core = core
        self.call = call
        self.number = number

    def start(self, offer: bytes) -> None:
        answer = self.core.media_offer()
        self.core.soon(lambda: self.call.callee_answered(self, answer, f"voicemail:{self.number}"))

    def cancel(self) -> None:
        pass

    def release(self) -> None:
        pass
