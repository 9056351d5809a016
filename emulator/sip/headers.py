"""Grammars of SIP header values (RFC 3261 section 25): URIs, Via, name-addr, CSeq, integers."""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from emulator.sip.message import Headers

__all__ = [
    "MAX_URI_LENGTH",
    "MAX_VALUE_LENGTH",
    "CSeq",
    "MediaType",
    "NameAddr",
    "Params",
    "SipParseError",
    "SipUri",
    "Via",
    "is_token",
    "parse_contact",
    "parse_content_length",
    "parse_cseq",
    "parse_expires",
    "parse_max_forwards",
    "parse_media_type",
    "parse_name_addr",
    "parse_port",
    "parse_uint",
    "parse_uri",
    "parse_via",
]

MAX_URI_LENGTH: Final = 4096
"""Longest URI accepted, in characters (longer ones are refused with status 414)."""
MAX_VALUE_LENGTH: Final = 8192
"""Longest header value the grammars accept, in characters."""

Params = tuple[tuple[str, str | None], ...]
"""Parameters in order: (name, value), value None for a parameter without '='."""


class SipParseError(ValueError):
    """Bytes or text that are not valid SIP; the message says what is wrong and where.

    `status` is the response code a server should answer a bad request with: 400 unless
    the RFC names another one (414 URI too long, 416 unsupported URI scheme, 513 message
    too large). `respond_400` says whether an answer can and should be sent at all: True
    only for a request (not an ACK) whose Via, From, To, Call-ID and CSeq could be read,
    which are then in `headers` for building the error response with `status`. It is
    False for responses (never answered) and for bytes too broken to know where to answer.
    """

    status: int
    respond_400: bool
    headers: Headers | None

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.respond_400 = False
        self.headers = None


# Character classes of RFC 3261 section 25, as regular-expression fragments. Every
# pattern below is a loop over disjoint alternatives, so matching stays linear.
_TOKEN_CHARS: Final = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN: Final = f"[{_TOKEN_CHARS}]+"
_ESCAPED: Final = "%[0-9A-Fa-f]{2}"
_UNRESERVED: Final = r"A-Za-z0-9\-_.!~*'()"
_QUOTED: Final = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*"'
_IPV6_REFERENCE: Final = r"\[[0-9A-Fa-f:.]+\]"

_TOKEN_RE: Final = re.compile(_TOKEN)
_USER_RE: Final = re.compile(f"(?:[{_UNRESERVED}&=+$,;?/]|{_ESCAPED})+")
_PASSWORD_RE: Final = re.compile(f"(?:[{_UNRESERVED}&=+$,]|{_ESCAPED})*")
_PARAMCHARS_RE: Final = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESCAPED})+")
_HNAME_RE: Final = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESCAPED})+")
_HVALUE_RE: Final = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESCAPED})*")
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_URIC_RE: Final = re.compile(rf"(?:[{_UNRESERVED};/?:@&=+$,]|{_ESCAPED})+")
_ESCAPE_RE: Final = re.compile(rb"%([0-9A-Fa-f]{2})")
_LABEL_RE: Final = re.compile(r"[A-Za-z0-9-]+")
_IPV4_RE: Final = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_IPV6_CHARS_RE: Final = re.compile(r"[0-9A-Fa-f:.]+")
_TEL_PNAME_RE: Final = re.compile(r"[A-Za-z0-9-]+")
_QUOTED_PAIR_RE: Final = re.compile(r"\\(.)", re.DOTALL)
_WS: Final = " \t"

_SEMI_RE: Final = re.compile(r"[ \t]*;[ \t]*")
# gen-value: token / host / quoted-string, plus the bare IPv6 address of Via's received.
_GEN_VALUE: Final = rf"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*|{_TOKEN}|{_IPV6_REFERENCE}|{_QUOTED}"
_GENERIC_PARAM_RE: Final = re.compile(rf"({_TOKEN})(?:[ \t]*=[ \t]*({_GEN_VALUE}))?")
_SENT_PROTOCOL_RE: Final = re.compile(
    rf"({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+"
    rf"({_IPV6_REFERENCE}|[A-Za-z0-9\-.]+)(?:[ \t]*:[ \t]*([0-9]+))?"
)
_QUOTED_RE: Final = re.compile(_QUOTED)
_DISPLAY_TOKENS_RE: Final = re.compile(rf"({_TOKEN}(?:[ \t]+{_TOKEN})*)[ \t]*<")
_ADDR_SPEC_RE: Final = re.compile(r"[^; \t]+")
_CSEQ_RE: Final = re.compile(rf"([0-9]+)[ \t]+({_TOKEN})")
_MEDIA_RE: Final = re.compile(rf"({_TOKEN})[ \t]*/[ \t]*({_TOKEN})")
_QVALUE_RE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

# Characters written as they are when a URI component is serialized; others are escaped.
_USER_SAFE_RE: Final = re.compile(f"[{_UNRESERVED}&=+$,;?/]*")
_PASSWORD_SAFE_RE: Final = re.compile(f"[{_UNRESERVED}&=+$,]*")
_PARAM_SAFE_RE: Final = re.compile(rf"[{_UNRESERVED}\[\]/:&+$]*")
_HEADER_SAFE_RE: Final = re.compile(rf"[{_UNRESERVED}\[\]/?:+$]*")

UINT32_MAX: Final = 2**32 - 1


def _show(text: str, limit: int = 40) -> str:
    """Quote a piece of input for an error message, short and with control bytes escaped."""
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)


class _Where:
    """Names the value an error is about; spelled out only when an error message needs it."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text

    def __str__(self) -> str:
        return f"{self.kind} {_show(self.text)}"


_Place = str | _Where


class _WithParams:
    """The `param`/`has_param` lookups of a value that carries `;name=value` parameters."""

    __slots__ = ()
    params: Params

    def param(self, name: str) -> str | None:
        """The value of a parameter, None when absent or without a value."""
        return _find_param(self.params, name)[1]

    def has_param(self, name: str) -> bool:
        """Whether the parameter is present, with or without a value."""
        return _find_param(self.params, name)[0]


def _find_param(params: Params, name: str) -> tuple[bool, str | None]:
    key = name.lower()
    for pname, value in params:
        if pname.lower() == key:
            return True, value
    return False, None


def _format_params(params: Params) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    raw = _ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("ascii"))
    # surrogateescape keeps octets that are not UTF-8 (%FF) so that they escape back as they came.
    return raw.decode("utf-8", "surrogateescape")


def _escape(text: str, safe: re.Pattern[str]) -> str:
    if safe.fullmatch(text):
        return text
    out = []
    for char in text:
        if safe.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"%{octet:02X}" for octet in char.encode("utf-8", "surrogateescape"))
    return "".join(out)


# --- hosts and ports -----------------------------------------------------------------


def _check_host(host: str, where: _Place) -> None:
    """Raise unless `host` is a hostname or an IPv4 address (IPv6 is checked by the caller)."""
    if not host:
        raise SipParseError(f"{where} has an empty host")
    if _IPV4_RE.fullmatch(host):
        if max(map(int, host.split("."))) > 255:
            raise SipParseError(f"{where} has an IPv4 address out of range: {_show(host)}")
        return
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    # RFC 3261 sets no length; DNS does (RFC 1035 2.3.4), and no longer name can be reached.
    if len(host) > 255 or any(len(label) > 63 for label in labels):
        raise SipParseError(f"{where} has a host name longer than DNS allows: {_show(host)}")
    for label in labels:
        if not _LABEL_RE.fullmatch(label) or label[0] == "-" or label[-1] == "-":
            raise SipParseError(f"{where} has a malformed host name {_show(host)}")
    if not labels[-1][0].isalpha():
        raise SipParseError(
            f"{where} has a host {_show(host)} that is neither an IPv4 address nor a host name"
            " (the last label of a host name starts with a letter)"
        )


def _check_ipv6(address: str, where: _Place) -> None:
    try:
        # The grammar has no zone index ('%eth0'), which ipaddress would accept.
        if not _IPV6_CHARS_RE.fullmatch(address):
            raise ValueError(address)
        ipaddress.IPv6Address(address)
    except ValueError:
        raise SipParseError(f"{where} has a malformed IPv6 address {_show(address)}") from None


def parse_port(text: str, where: _Place = "port") -> int:
    """Parse a port number (1*DIGIT, leading zeros allowed, at most 65535)."""
    if not _DIGITS_RE.fullmatch(text):
        raise SipParseError(f"{where}: port {_show(text)} is not a decimal number")
    digits = text.lstrip("0") or "0"
    if len(digits) > 5 or int(digits) > 65535:
        raise SipParseError(f"{where}: port {_show(text)} is more than 65535")
    return int(digits)


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


# --- integers --------------------------------------------------------------------------


def parse_uint(value: str, name: str, maximum: int) -> int:
    """Parse a header value that is 1*DIGIT (surrounding whitespace allowed) up to `maximum`."""
    text = value.strip(_WS)
    if not _DIGITS_RE.fullmatch(text):
        raise SipParseError(f"{name} must be a decimal integer, got {_show(value)}")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise SipParseError(f"{name} {_show(text)} is more than {maximum}")
    return int(digits)


def parse_max_forwards(value: str) -> int:
    """Parse a Max-Forwards value: 0 to 255."""
    return parse_uint(value, "Max-Forwards", 255)


def parse_expires(value: str) -> int:
    """Parse an Expires value (delta-seconds): 0 to 2**32-1; larger values are refused."""
    return parse_uint(value, "Expires", UINT32_MAX)


def parse_content_length(value: str) -> int:
    """Parse a Content-Length value: 0 to 2**32-1 (a negative length is not 1*DIGIT)."""
    return parse_uint(value, "Content-Length", UINT32_MAX)


# --- URIs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SipUri(_WithParams):
    """A sip:, sips: or tel: URI with its escapes decoded.

    For tel: URIs (RFC 3966) the number is in `user` and `host` is empty. `params` and
    `headers` keep their order; parameter names compare case-insensitively.
    """

    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: Params = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        params = "".join(
            f";{_escape(name, _PARAM_SAFE_RE)}"
            + ("" if value is None else f"={_escape(value, _PARAM_SAFE_RE)}")
            for name, value in self.params
        )
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{params}"
        text = [self.scheme, ":"]
        if self.user is not None:
            text.append(_escape(self.user, _USER_SAFE_RE))
            if self.password is not None:
                text.append(":" + _escape(self.password, _PASSWORD_SAFE_RE))
            text.append("@")
        text.append(_format_host(self.host))
        if self.port is not None:
            text.append(f":{self.port}")
        text.append(params)
        if self.headers:
            text.append(
                "?"
                + "&".join(
                    f"{_escape(name, _HEADER_SAFE_RE)}={_escape(value, _HEADER_SAFE_RE)}"
                    for name, value in self.headers
                )
            )
        return "".join(text)


def parse_uri(text: str) -> SipUri:
    """Parse a sip:, sips: or tel: URI (RFC 3261 19.1, RFC 3966).

    Other well-formed schemes raise SipParseError with status 416 (Unsupported URI
    Scheme); a URI longer than MAX_URI_LENGTH raises it with status 414.
    """
    if len(text) <= _CACHED_LENGTH:
        return _parse_uri_cached(text)
    return _parse_uri(text)


def _parse_uri(text: str) -> SipUri:
    if len(text) > MAX_URI_LENGTH:
        raise SipParseError(
            f"URI is {len(text)} characters long, more than {MAX_URI_LENGTH}", status=414
        )
    colon = text.find(":")
    scheme = text[:colon].lower() if colon > 0 else ""
    if not _SCHEME_RE.fullmatch(scheme):
        raise SipParseError(f"URI {_show(text)} does not start with a scheme such as 'sip:'")
    rest = text[colon + 1 :]
    if scheme in ("sip", "sips"):
        return _parse_sip_uri(scheme, rest, text)
    if scheme == "tel":
        return _parse_tel_uri(rest, text)
    if _URIC_RE.fullmatch(rest):
        raise SipParseError(
            f"unsupported URI scheme {_show(text[:colon])} in {_show(text)}", status=416
        )
    raise SipParseError(f"URI {_show(text)} holds characters that no URI may hold")


# The same URIs and addresses come back in every message of a dialog; results are
# immutable, so short ones are parsed once. Errors are not cached.
_CACHED_LENGTH: Final = 512
_parse_uri_cached: Final = functools.lru_cache(maxsize=1024)(_parse_uri)


def _parse_sip_uri(scheme: str, rest: str, text: str) -> SipUri:
    where = _Where("URI", text)
    user = password = None
    at = rest.find("@")
    if at >= 0:
        # '@' may appear nowhere else in a SIP URI, so the first one ends the userinfo.
        if "@" in rest[at + 1 :]:
            raise SipParseError(f"{where} has more than one '@'")
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_text, colon, password_text = userinfo.partition(":")
        if not _USER_RE.fullmatch(user_text):
            raise SipParseError(f"{where} has an empty or malformed user part")
        user = _unescape(user_text)
        if colon:
            if not _PASSWORD_RE.fullmatch(password_text):
                raise SipParseError(f"{where} has a malformed password")
            password = _unescape(password_text)
    rest, question, header_text = rest.partition("?")
    hostport, semi, param_text = rest.partition(";")
    host, port = _parse_hostport(hostport, where)
    params = _parse_uri_params(param_text, where) if semi else ()
    headers: tuple[tuple[str, str], ...] = ()
    if question:
        headers = _parse_uri_headers(header_text, where)
    return SipUri(scheme, user, password, host, port, params, headers)


def _parse_hostport(hostport: str, where: _Place) -> tuple[str, int | None]:
    port_text: str | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0:
            raise SipParseError(f"{where} has an IPv6 reference without ']'")
        host = hostport[1:close]
        _check_ipv6(host, where)
        after = hostport[close + 1 :]
        if after:
            if after[0] != ":":
                raise SipParseError(f"{where} has {_show(after)} after its IPv6 reference")
            port_text = after[1:]
    else:
        host, colon, after = hostport.partition(":")
        _check_host(host, where)
        if colon:
            port_text = after
    return host, None if port_text is None else parse_port(port_text, where)


def _parse_uri_params(text: str, where: _Place) -> Params:
    params: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for item in text.split(";"):
        name, equal, value = item.partition("=")
        if not _PARAMCHARS_RE.fullmatch(name) or (equal and not _PARAMCHARS_RE.fullmatch(value)):
            raise SipParseError(f"{where} has an empty or malformed parameter {_show(item)}")
        name = _unescape(name)
        if name.lower() in seen:
            raise SipParseError(f"{where} repeats the parameter {_show(name)}")
        seen.add(name.lower())
        params.append((name, _unescape(value) if equal else None))
    return tuple(params)


def _parse_uri_headers(text: str, where: _Place) -> tuple[tuple[str, str], ...]:
    headers = []
    for item in text.split("&"):
        name, equal, value = item.partition("=")
        if not equal or not _HNAME_RE.fullmatch(name) or not _HVALUE_RE.fullmatch(value):
            raise SipParseError(f"{where} has a malformed header {_show(item)}")
        headers.append((_unescape(name), _unescape(value)))
    return tuple(headers)


_GLOBAL_NUMBER_CHARS: Final = frozenset("0123456789-.()")
_LOCAL_NUMBER_CHARS: Final = frozenset("0123456789ABCDEFabcdef*#-.()")
_VISUAL_SEPARATORS: Final = frozenset("-.()")


def _parse_tel_uri(rest: str, text: str) -> SipUri:
    where = _Where("URI", text)
    number, semi, param_text = rest.partition(";")
    if number.startswith("+"):
        digits = number[1:]
        valid = set(digits) <= _GLOBAL_NUMBER_CHARS and any(c.isdigit() for c in digits)
    else:
        valid = set(number) <= _LOCAL_NUMBER_CHARS and bool(set(number) - _VISUAL_SEPARATORS)
    if not valid:
        raise SipParseError(f"{where} has a malformed telephone number {_show(number)}")
    params: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    if semi:
        for item in param_text.split(";"):
            name, equal, value = item.partition("=")
            if not _TEL_PNAME_RE.fullmatch(name) or (equal and not _PARAMCHARS_RE.fullmatch(value)):
                raise SipParseError(f"{where} has an empty or malformed parameter {_show(item)}")
            if name.lower() in seen:
                raise SipParseError(f"{where} repeats the parameter {_show(name)}")
            seen.add(name.lower())
            params.append((name, _unescape(value) if equal else None))
    if not number.startswith("+") and "phone-context" not in seen:
        raise SipParseError(f"{where} is a local number without a phone-context parameter")
    return SipUri("tel", user=number, params=tuple(params))


# --- header parameters -------------------------------------------------------------------


def _parse_generic_params(value: str, pos: int, where: _Place) -> Params:
    """Parse `*( SEMI generic-param )` from `pos` to the end of `value`."""
    params: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    end = len(value)
    while pos < end:
        semi = _SEMI_RE.match(value, pos)
        if semi is None:
            raise SipParseError(f"{where}: expected ';' at {_show(value[pos:])}")
        param = _GENERIC_PARAM_RE.match(value, semi.end())
        if param is None:
            raise SipParseError(f"{where}: empty or malformed parameter at {_show(value[pos:])}")
        name = param.group(1)
        if name.lower() in seen:
            raise SipParseError(f"{where} repeats the parameter {_show(name)}")
        seen.add(name.lower())
        pvalue = param.group(2)
        # An IPv6 address without brackets is only allowed in a Via's received (20.42).
        if (
            pvalue is not None
            and ":" in pvalue
            and pvalue[0] not in '["'
            and name.lower() != "received"
        ):
            raise SipParseError(f"{where}: malformed parameter value {_show(pvalue)}")
        params.append((name, pvalue))
        pos = param.end()
    return tuple(params)


def _unquote(quoted: str) -> str:
    return _QUOTED_PAIR_RE.sub(r"\1", quoted[1:-1])


def _quote(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise ValueError(f"a quoted string cannot hold a line break: {_show(text)}")
    out = ['"']
    for char in text:
        if char in '"\\' or (char < " " and char != "\t") or char == "\x7f":
            out.append("\\")
        out.append(char)
    out.append('"')
    return "".join(out)


# --- Via -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Via(_WithParams):
    """One Via value: `protocol` is e.g. 'SIP/2.0', `transport` upper case ('UDP', 'TCP'...)."""

    protocol: str
    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def rport(self) -> int | None:
        """The port a server filled into `rport` (RFC 3581), None when absent or a bare flag."""
        value = self.param("rport")
        return None if value is None else int(value)

    @property
    def wants_rport(self) -> bool:
        """Whether `rport` is present at all: as a bare flag, the client asks for it (RFC 3581)."""
        return self.has_param("rport")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def ttl(self) -> int | None:
        value = self.param("ttl")
        return None if value is None else int(value)

    @property
    def sent_by(self) -> str:
        """host[:port] as written in the Via, IPv6 addresses in brackets."""
        host = _format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{_format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one Via value (RFC 3261 20.42; `rport` from RFC 3581)."""
    if len(value) <= _CACHED_LENGTH:
        return _parse_via_cached(value)
    return _parse_via(value)


def _parse_via(value: str) -> Via:
    value = value.strip(_WS)
    if len(value) > MAX_VALUE_LENGTH:
        raise SipParseError(f"Via is {len(value)} characters long, more than {MAX_VALUE_LENGTH}")
    match = _SENT_PROTOCOL_RE.match(value)
    if match is None:
        raise SipParseError(
            f"Via {_show(value)} does not start with protocol/version/transport and a host"
        )
    name, version, transport, host, port_text = match.groups()
    where = _Where("Via", value)
    if host.startswith("["):
        host = host[1:-1]
        _check_ipv6(host, where)
    else:
        _check_host(host, where)
    port = None if port_text is None else parse_port(port_text, where)
    params = _parse_generic_params(value, match.end(), where)
    for pname, pvalue in params:
        _check_via_param(pname.lower(), pvalue, where)
    return Via(f"{name}/{version}", transport.upper(), host, port, params)


_parse_via_cached: Final = functools.lru_cache(maxsize=1024)(_parse_via)


def _check_via_param(name: str, value: str | None, where: _Place) -> None:
    if name == "rport":
        if value is not None:
            parse_port(value, where)
        return
    if name not in ("branch", "received", "ttl", "maddr"):
        return
    if value is None or value.startswith('"'):
        raise SipParseError(f"{where}: {name} needs a value that is not a quoted string")
    if name == "branch":
        if not _TOKEN_RE.fullmatch(value):
            raise SipParseError(f"{where}: branch {_show(value)} is not a token")
    elif name == "received":
        address = value[1:-1] if value.startswith("[") else value
        try:
            if not _IPV6_CHARS_RE.fullmatch(address):
                raise ValueError(address)
            ipaddress.ip_address(address)
        except ValueError:
            raise SipParseError(f"{where}: received {_show(value)} is not an IP address") from None
    elif name == "ttl":
        parse_uint(value, f"{where} ttl", 255)
    elif value.startswith("["):
        _check_ipv6(value[1:-1], where)
    else:
        _check_host(value, f"{where} maddr")


# --- name-addr: From, To, Contact, Route, Record-Route -----------------------------------


@dataclass(frozen=True, slots=True)
class NameAddr(_WithParams):
    """A name-addr or addr-spec with its header parameters.

    `display` is the display name with quotes and escapes removed (None when there is
    none). Parameter values are kept as written (a quoted-string value keeps its quotes).
    """

    display: str | None
    uri: SipUri
    params: Params = ()

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    @property
    def expires(self) -> int | None:
        """A Contact's `expires` parameter (checked by parse_contact), None when absent."""
        value = self.param("expires")
        return None if value is None else parse_expires(value)

    def __str__(self) -> str:
        # Always the name-addr form: '<>' keep URI parameters apart from header parameters.
        display = "" if self.display is None else _quote(self.display) + " "
        return f"{display}<{self.uri}>{_format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse a From, To, Contact, Route or Record-Route value (name-addr or addr-spec).

    In the addr-spec form (no '<>') the URI ends at the first ';' (what follows is header
    parameters) and may not hold ',' or '?' (RFC 3261 20.10). A URI scheme other than
    sip, sips or tel raises SipParseError with status 416.
    """
    if len(value) <= _CACHED_LENGTH:
        return _parse_name_addr_cached(value)
    return _parse_name_addr(value)


def _parse_name_addr(value: str) -> NameAddr:
    value = value.strip(_WS)
    if len(value) > MAX_VALUE_LENGTH:
        raise SipParseError(
            f"address is {len(value)} characters long, more than {MAX_VALUE_LENGTH}"
        )
    where = _Where("address", value)
    display: str | None = None
    laquot = -1
    if value.startswith('"'):
        quoted = _QUOTED_RE.match(value)
        if quoted is None:
            raise SipParseError(f"{where} has an unterminated or malformed quoted display name")
        display = _unquote(quoted.group())
        laquot = quoted.end()
        while laquot < len(value) and value[laquot] in _WS:
            laquot += 1
        if not value.startswith("<", laquot):
            raise SipParseError(f"{where} has a quoted display name not followed by '<'")
    elif value.startswith("<"):
        laquot = 0
    else:
        tokens = _DISPLAY_TOKENS_RE.match(value)
        if tokens is not None:
            display = tokens.group(1)
            laquot = tokens.end() - 1
    if laquot >= 0:
        raquot = value.find(">", laquot)
        if raquot < 0:
            raise SipParseError(f"{where} has '<' without '>'")
        uri_text = value[laquot + 1 : raquot]
        if uri_text != uri_text.strip(_WS):
            raise SipParseError(f"{where} has whitespace inside '<>'")
        pos = raquot + 1
    else:
        spec = _ADDR_SPEC_RE.match(value)
        if spec is None:
            raise SipParseError(f"{where} is empty or does not start with a URI")
        uri_text = spec.group()
        if "," in uri_text or "?" in uri_text or "<" in uri_text or '"' in uri_text:
            raise SipParseError(
                f"{where}: a URI holding ',' or '?' must be enclosed in '<>', and a display"
                " name must be a quoted string or tokens"
            )
        pos = spec.end()
    try:
        uri = parse_uri(uri_text)
    except SipParseError as error:
        raise SipParseError(f"{where}: {error}", status=error.status) from None
    return NameAddr(display, uri, _parse_generic_params(value, pos, where))


_parse_name_addr_cached: Final = functools.lru_cache(maxsize=1024)(_parse_name_addr)


def parse_contact(value: str) -> NameAddr | Literal["*"]:
    """Parse one Contact value: '*' or an address whose `q` and `expires` are checked."""
    if value.strip(_WS) == "*":
        return "*"
    contact = parse_name_addr(value)
    q = contact.param("q")
    if contact.has_param("q") and (q is None or not _QVALUE_RE.fullmatch(q)):
        raise SipParseError(f"Contact {_show(value)}: q must be a qvalue from 0 to 1")
    if contact.has_param("expires"):
        expires = contact.param("expires")
        if expires is None:
            raise SipParseError(f"Contact {_show(value)}: expires needs a value")
        parse_uint(expires, "Contact expires", UINT32_MAX)
    return contact


# --- CSeq and media types -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CSeq:
    """A CSeq value: sequence number (0 to 2**32-1) and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value: 1*DIGIT LWS Method, the number at most 2**32-1."""
    if len(value) <= _CACHED_LENGTH:
        return _parse_cseq_cached(value)
    return _parse_cseq(value)


def _parse_cseq(value: str) -> CSeq:
    text = value.strip(_WS)
    match = _CSEQ_RE.fullmatch(text)
    if match is None:
        raise SipParseError(f"CSeq must be a number and a method, got {_show(value)}")
    return CSeq(parse_uint(match.group(1), "CSeq number", UINT32_MAX), match.group(2))


_parse_cseq_cached: Final = functools.lru_cache(maxsize=1024)(_parse_cseq)


@dataclass(frozen=True, slots=True)
class MediaType:
    """A Content-Type value or an Accept range; type and subtype in lower case."""

    type: str
    subtype: str
    params: Params = ()

    @property
    def essence(self) -> str:
        """'type/subtype', e.g. 'application/sdp'."""
        return f"{self.type}/{self.subtype}"

    def __str__(self) -> str:
        return f"{self.essence}{_format_params(self.params)}"


def parse_media_type(value: str) -> MediaType:
    """Parse a Content-Type value or one Accept range (m-type SLASH m-subtype *(SEMI param))."""
    if len(value) <= _CACHED_LENGTH:
        return _parse_media_type_cached(value)
    return _parse_media_type(value)


def _parse_media_type(value: str) -> MediaType:
    text = value.strip(_WS)
    if len(text) > MAX_VALUE_LENGTH:
        raise SipParseError(f"media type is {len(text)} characters long")
    match = _MEDIA_RE.match(text)
    if match is None:
        raise SipParseError(f"media type {_show(value)} is not type/subtype")
    params = _parse_generic_params(text, match.end(), f"media type {_show(value)}")
    return MediaType(match.group(1).lower(), match.group(2).lower(), params)


_parse_media_type_cached: Final = functools.lru_cache(maxsize=256)(_parse_media_type)


def is_token(text: str) -> bool:
    """Whether `text` is an RFC 3261 token (method names, option tags, header names)."""
    return _TOKEN_RE.fullmatch(text) is not None
