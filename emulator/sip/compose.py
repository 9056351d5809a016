"""Building SIP messages: fresh tags, branches and Call-IDs, and responses to requests."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Final

from emulator.sip.headers import SipParseError, SipUri, parse_name_addr
from emulator.sip.message import Headers, Request, Response

#: RFC 3261 8.1.1.7: a branch that starts with this cookie is unique in space and time.
BRANCH_COOKIE: Final = "z9hG4bK"

#: The reason phrases of RFC 3261 section 21 and of the extensions the lab uses.
REASONS: Final[dict[int, str]] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

# RFC 3261 8.2.6.2: a response copies these from its request, in this order.
_COPIED: Final = ("Via", "From", "To", "Call-ID", "CSeq")


def _has_tag(value: str) -> bool:
    try:
        return parse_name_addr(value).tag is not None
    except SipParseError:  # a 400 to a broken To still answers, copying it as it came
        return ";tag=" in value.lower()


def new_branch() -> str:
    """A Via branch for a new client transaction."""
    return BRANCH_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A From or To tag (RFC 3261 19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    """A Call-ID unique in space and time, scoped by the host that makes it."""
    return f"{secrets.token_hex(10)}@{host}"


def request(
    method: str,
    uri: SipUri,
    *,
    via: str,
    sender: str,
    to: str,
    call_id: str,
    cseq: int,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    max_forwards: int = 70,
) -> Request:
    """A request with the headers every request carries (RFC 3261 8.1.1), then `headers`.

    `sender` is the From value (with its tag).
    """
    fields = [
        ("Via", via),
        ("Max-Forwards", str(max_forwards)),
        ("From", sender),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        *headers,
    ]
    return Request(method, uri, Headers(fields), body)


def reason_for(status: int) -> str:
    """The standard reason phrase of a status, or a generic one for its class."""
    return REASONS.get(status) or REASONS[status - status % 100 or 100]


def response_to(
    request: Request | Headers,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """The response a UAS or a registrar sends to a request (RFC 3261 8.2.6).

    Copies Via (all values, in order), From, To, Call-ID and CSeq; adds `to_tag` to To
    unless the request's To already has a tag, which is kept. `request` may also be the
    headers a SipParseError salvaged, to answer a request too broken to parse.
    """
    source = request.headers if isinstance(request, Request) else request
    fields: list[tuple[str, str]] = []
    for name in _COPIED:
        for value in source.get_all(name):
            if name == "To" and to_tag is not None and not _has_tag(value):
                value = f"{value};tag={to_tag}"
            fields.append((name, value))
    # The copied fields were checked when the request was parsed (salvaged ones are copied as
    # they came, even a list that does not split, so that the client can match the answer);
    # only the added ones need checking.
    fields.extend(Headers(headers))
    return Response(status, reason or reason_for(status), Headers._trusted(fields), body)
