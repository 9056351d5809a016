"""SIP digest authentication (RFC 3261 section 22, RFC 7616, RFC 8760): challenge, answer, check."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from profiles.clock import Clock

__all__ = [
    "ALGORITHMS",
    "MAX_VALUE_CHARS",
    "AuthOutcome",
    "AuthResult",
    "Challenge",
    "Credentials",
    "DigestAuthority",
    "DigestError",
    "DigestResponse",
    "answer",
    "canonical_algorithm",
    "compute_response",
    "parse_authorization",
    "parse_challenge",
    "pick",
]

MAX_VALUE_CHARS = 4096
"""The longest header value read: far above any honest one, low enough to bound the work."""

# Canonical names (RFC 7616 section 6.1, RFC 8760) -> hashlib name, whether a session variant.
_ALGORITHMS: dict[str, tuple[str, bool]] = {
    "MD5": ("md5", False),
    "MD5-sess": ("md5", True),
    "SHA-256": ("sha256", False),
    "SHA-256-sess": ("sha256", True),
    "SHA-512-256": ("sha512_256", False),
    "SHA-512-256-sess": ("sha512_256", True),
}
ALGORITHMS: tuple[str, ...] = tuple(_ALGORITHMS)
"""Every algorithm this module computes, by its name in the `algorithm` parameter."""

_BY_LOWER = {name.lower(): name for name in _ALGORITHMS}
_HEX_LENGTH = {"md5": 32, "sha256": 64, "sha512_256": 64}
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_SPACE = " \t"
# An unquoted value runs to the next separator. RFC 3261 section 22.4 notes that RFC 2617's grammar
# left `uri` unquoted, and some clients still send it so: reading up to a separator keeps them.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]*")
_UNQUOTED_RUN = re.compile(r'[^ \t,"]*')
_SPACE_RUN = re.compile(r"[ \t]*")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_EXHAUSTED = 1 << 32  # above any 8-hex-digit nc: the nonce may not be used again


class DigestError(ValueError):
    """A digest header value that cannot be read, or an answer that cannot be made."""


def _shown(text: str) -> str:
    """A client's text for an error message, cut short so a huge value stays out of logs."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def canonical_algorithm(name: str) -> str | None:
    """The canonical spelling of a supported algorithm (case-insensitive), None if unsupported."""
    return _BY_LOWER.get(name.lower())


def _quote(value: str, name: str) -> str:
    if _CONTROL.search(value):
        raise DigestError(f"the {name} holds a control character and cannot go in a header")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _token(value: str, name: str) -> str:
    if not value or not set(value) <= _TOKEN_CHARS:
        raise DigestError(f"the {name} {_shown(value)} is not a token")
    return value


# Reading `Digest name=value, name="quoted"` values.


def _auth_params(value: str, header: str) -> dict[str, str]:
    """The parameters of a single Digest challenge or credentials value, names in lower case."""
    if len(value) > MAX_VALUE_CHARS:
        raise DigestError(
            f"the {header} value is {len(value)} characters long, the limit is {MAX_VALUE_CHARS}"
        )
    if _CONTROL.search(value):
        raise DigestError(f"the {header} value holds a control character")
    end = len(value)
    i = _skip_space(value, 0)
    start = i
    i = _TOKEN_RUN.match(value, i).end()  # type: ignore[union-attr]  # '*' always matches
    scheme = value[start:i]
    if not scheme:
        raise DigestError(f"the {header} value has no authentication scheme")
    if scheme.lower() != "digest":
        raise DigestError(f"the {header} scheme is {_shown(scheme)}, not Digest")
    if i < end and value[i] not in _SPACE:
        raise DigestError(f"the {header} value needs a space after Digest")
    params: dict[str, str] = {}
    while True:
        i = _skip_space(value, i)
        if i >= end:
            break
        if value[i] == ",":  # an empty list element, which the list syntax allows
            i += 1
            continue
        start = i
        i = _TOKEN_RUN.match(value, i).end()  # type: ignore[union-attr]
        name = value[start:i].lower()
        if not name:
            raise DigestError(
                f"the {header} value has {_shown(value[i])} where a parameter name should be"
            )
        i = _skip_space(value, i)
        if i >= end or value[i] != "=":
            if name == "digest":
                raise DigestError(f"the {header} value holds more than one challenge")
            raise DigestError(f"the {header} parameter {_shown(name)} has no value")
        i = _skip_space(value, i + 1)
        if i < end and value[i] == '"':
            text, i = _quoted_string(value, i, header, name)
        else:
            start = i
            i = _UNQUOTED_RUN.match(value, i).end()  # type: ignore[union-attr]
            text = value[start:i]
            if not text:
                raise DigestError(f"the {header} parameter {_shown(name)} has an empty value")
        if name in params:
            raise DigestError(f"the {header} parameter {_shown(name)} appears twice")
        params[name] = text
        i = _skip_space(value, i)
        if i < end and value[i] != ",":
            raise DigestError(
                f"the {header} parameter {_shown(name)} is followed by {_shown(value[i])}, "
                "not a comma"
            )
    if not params:
        raise DigestError(f"the {header} value has no parameters")
    return params


def _skip_space(value: str, i: int) -> int:
    return _SPACE_RUN.match(value, i).end()  # type: ignore[union-attr]


def _quoted_string(value: str, i: int, header: str, name: str) -> tuple[str, int]:
    """The unescaped text of the quoted string opening at `i`, and the index after it."""
    close = value.find('"', i + 1)
    if close >= 0 and value.find("\\", i + 1, close) < 0:
        return value[i + 1 : close], close + 1  # no escapes: the common case, at C speed
    chars: list[str] = []
    i += 1
    while i < len(value):
        char = value[i]
        if char == '"':
            return "".join(chars), i + 1
        if char == "\\":
            i += 1
            if i >= len(value):
                break
            char = value[i]
        chars.append(char)
        i += 1
    raise DigestError(f"the {header} parameter {_shown(name)} has an unterminated quoted string")


# What a server sends: WWW-Authenticate / Proxy-Authenticate.


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge: the value of one WWW-Authenticate or Proxy-Authenticate header.

    `qop` lists the offered qualities of protection; empty means none was offered (RFC 2069).
    `algorithm` keeps whatever the server named, so that a client can skip what it cannot do.
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False

    @property
    def supported(self) -> bool:
        """Whether this module can answer the challenge's algorithm."""
        return canonical_algorithm(self.algorithm) is not None

    def to_header(self) -> str:
        """The header value, realm and nonce first and quoted.

        pyVoIP 1.6.8 reads parameters with a `name="..."` or `name=run-to-blank` pattern and
        keeps the text after the first ": " of the line only, so the two values it needs come
        quoted and nothing here writes a colon followed by a space.
        """
        parts = [
            f"realm={_quote(self.realm, 'realm')}",
            f"nonce={_quote(self.nonce, 'nonce')}",
            f"algorithm={_token(self.algorithm, 'algorithm')}",
        ]
        if self.qop:
            offered = ", ".join(_token(qop, "qop value") for qop in self.qop)
            parts.append(f'qop="{offered}"')
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque, 'opaque')}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge:
    """Read a WWW-Authenticate or Proxy-Authenticate value; raise DigestError if malformed."""
    params = _auth_params(value, "challenge")
    for required in ("realm", "nonce"):
        if required not in params:
            raise DigestError(f"the challenge has no {required}")
    algorithm = params.get("algorithm", "MD5")
    qop = params.get("qop")
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=canonical_algorithm(algorithm) or algorithm,
        qop=tuple(part.strip() for part in qop.split(",") if part.strip()) if qop else (),
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


# What a client sends: Authorization / Proxy-Authorization.


@dataclass(frozen=True, slots=True)
class DigestResponse:
    """The credentials of one Authorization or Proxy-Authorization value.

    `nc` keeps the client's text (the digest is computed over it); `nonce_count` is its value.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None

    @property
    def nonce_count(self) -> int | None:
        return None if self.nc is None else int(self.nc, 16)

    def to_header(self) -> str:
        """The header value, in the parameter order of RFC 7616's examples."""
        parts = [
            f"username={_quote(self.username, 'username')}",
            f"realm={_quote(self.realm, 'realm')}",
            f"nonce={_quote(self.nonce, 'nonce')}",
            f"uri={_quote(self.uri, 'uri')}",
            f"response={_quote(self.response, 'response')}",
            f"algorithm={_token(self.algorithm, 'algorithm')}",
        ]
        if self.qop is not None:
            if self.cnonce is None or self.nc is None:
                raise DigestError("an answer with qop needs a cnonce and an nc")
            parts.append(f"cnonce={_quote(self.cnonce, 'cnonce')}")
            parts.append(f"nc={_token(self.nc, 'nc')}")
            parts.append(f"qop={_token(self.qop, 'qop')}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque, 'opaque')}")
        return "Digest " + ", ".join(parts)


def parse_authorization(value: str) -> DigestResponse:
    """Read an Authorization or Proxy-Authorization value; raise DigestError if malformed."""
    params = _auth_params(value, "Authorization")
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in params:
            raise DigestError(f"the Authorization value has no {required}")
    if params.get("userhash", "false").lower() == "true":
        raise DigestError("the Authorization value uses userhash, which SIP does not support")
    named = params.get("algorithm", "MD5")
    algorithm = canonical_algorithm(named)
    if algorithm is None:
        raise DigestError(f"the Authorization algorithm {_shown(named)} is not supported")
    response = params["response"]
    expected_length = _HEX_LENGTH[_ALGORITHMS[algorithm][0]]
    if len(response) != expected_length or not set(response) <= _HEX_DIGITS:
        raise DigestError(
            f"the Authorization response is not a {algorithm} digest "
            f"({expected_length} hexadecimal digits)"
        )
    qop = params.get("qop")
    cnonce = params.get("cnonce")
    nc = params.get("nc")
    if qop is None:
        # RFC 2069 form (pyVoIP): no qop, so no cnonce or nc either (RFC 2617 section 3.2.2).
        if cnonce is not None or nc is not None:
            raise DigestError("the Authorization value has a cnonce or nc without qop")
        if _ALGORITHMS[algorithm][1]:
            raise DigestError(f"the Authorization algorithm {algorithm} needs qop")
    else:
        qop = qop.lower()
        if cnonce is None or nc is None:
            raise DigestError(f"the Authorization value has qop={_shown(qop)} but no cnonce or nc")
        if not 1 <= len(nc) <= 8 or not set(nc) <= _HEX_DIGITS:
            raise DigestError(f"the Authorization nc {_shown(nc)} is not 8 hexadecimal digits")
    return DigestResponse(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=response.lower(),
        algorithm=algorithm,
        cnonce=cnonce,
        nc=nc,
        qop=qop,
        opaque=params.get("opaque"),
    )


# The arithmetic, shared by both sides.


def compute_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The `response` digest (RFC 7616 section 3.4.1); without qop, the RFC 2069 form."""
    canonical = canonical_algorithm(algorithm)
    if canonical is None:
        raise DigestError(f"the algorithm {_shown(algorithm)} is not supported")
    base, session = _ALGORITHMS[canonical]

    def digest(data: bytes) -> str:
        return hashlib.new(base, data).hexdigest()

    def h(*parts: str) -> str:
        return digest(":".join(parts).encode("utf-8"))

    ha1 = h(username, realm, password)
    if session:
        if cnonce is None:
            raise DigestError(f"the algorithm {canonical} needs a cnonce")
        ha1 = h(ha1, nonce, cnonce)
    if qop == "auth-int":
        ha2 = h(method, uri, digest(body))
    elif qop is None or qop == "auth":
        ha2 = h(method, uri)
    else:
        raise DigestError(f"the qop {_shown(qop)} is not supported")
    if qop is None:
        return h(ha1, nonce, ha2)
    if nc is None or cnonce is None:
        raise DigestError("an answer with qop needs a cnonce and an nc")
    return h(ha1, nonce, nc, cnonce, qop, ha2)


# The client side: the box's VoIP line answering the core.


def pick(challenges: Iterable[Challenge], prefer: Sequence[str] = ("SHA-256", "MD5")) -> Challenge:
    """The challenge to answer: the first of `prefer`'s algorithms on offer, earliest on ties.

    RFC 8760 section 2.4 has a client take the topmost challenge it supports "unless a local
    policy dictates otherwise"; `prefer` is that policy, strongest first by default, so that a
    reordered list (challenges are not integrity-protected) cannot talk it down to MD5.
    """
    ranks: dict[str, int] = {}
    for rank, name in enumerate(prefer):
        canonical = canonical_algorithm(name)
        if canonical is None:
            raise DigestError(f"the preferred algorithm {_shown(name)} is not supported")
        ranks.setdefault(canonical, rank)
    offered = list(challenges)
    candidates = [
        (ranks[algorithm], index, challenge)
        for index, challenge in enumerate(offered)
        if (algorithm := canonical_algorithm(challenge.algorithm)) in ranks
    ]
    if not candidates:
        names = ", ".join(challenge.algorithm for challenge in offered) or "nothing"
        raise DigestError(f"no offered algorithm ({names}) is among {', '.join(prefer)}")
    return min(candidates, key=lambda candidate: candidate[:2])[2]


def answer(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization (or Proxy-Authorization) value answering `challenge`.

    qop=auth when offered, else auth-int over `body`, else the RFC 2069 form when the
    challenge offers no qop at all. `cnonce` defaults to a fresh random one.
    """
    algorithm = canonical_algorithm(challenge.algorithm)
    if algorithm is None:
        raise DigestError(
            f"the challenge's algorithm {_shown(challenge.algorithm)} is not supported"
        )
    qop: str | None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    elif not challenge.qop:
        qop = None
    else:
        offered = ", ".join(challenge.qop)
        raise DigestError(f"no offered qop ({offered}) is supported")
    nc_text: str | None = None
    if qop is None:
        if _ALGORITHMS[algorithm][1]:
            raise DigestError(f"the algorithm {algorithm} needs qop, which the challenge lacks")
        cnonce = None
    else:
        if not 1 <= nc <= 0xFFFFFFFF:
            raise DigestError(f"the nonce count must be between 1 and 4294967295, not {nc}")
        nc_text = f"{nc:08x}"
        cnonce = cnonce if cnonce is not None else secrets.token_hex(16)
    response = compute_response(
        algorithm=algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    return DigestResponse(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=algorithm,
        cnonce=cnonce,
        nc=nc_text,
        qop=qop,
        opaque=challenge.opaque,
    ).to_header()


@dataclass(frozen=True, slots=True)
class Credentials:
    """A line's username and password, the password kept out of the repr."""

    username: str
    password: str = field(repr=False)

    def answer(
        self,
        challenge: Challenge,
        *,
        method: str,
        uri: str,
        cnonce: str | None = None,
        nc: int = 1,
        body: bytes = b"",
    ) -> str:
        """The Authorization value answering `challenge` with these credentials."""
        return answer(
            challenge,
            method=method,
            uri=uri,
            username=self.username,
            password=self.password,
            cnonce=cnonce,
            nc=nc,
            body=body,
        )


# The server side: the operator core's registrar and call server.


class AuthOutcome(enum.Enum):
    """What a check of a request's credentials concluded."""

    OK = "ok"
    MISSING = "missing"
    MALFORMED = "malformed"
    REALM_MISMATCH = "realm mismatch"
    UNKNOWN_USER = "unknown user"
    WRONG_PASSWORD = "wrong password"
    STALE_NONCE = "stale nonce"
    REPLAYED = "replayed"


_FORBIDDEN = frozenset({AuthOutcome.UNKNOWN_USER, AuthOutcome.WRONG_PASSWORD})


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The verdict on a request's credentials, and the challenges to send back if any.

    `reason` is for logs and the line's status; on the wire, an unknown user and a wrong
    password both get a plain 403 so that the answer does not tell which usernames exist.
    """

    outcome: AuthOutcome
    reason: str
    username: str | None = None
    challenges: tuple[Challenge, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is AuthOutcome.OK

    @property
    def status(self) -> int | None:
        """None to let the request through, 403 for bad credentials, else 401 with challenges."""
        if self.outcome is AuthOutcome.OK:
            return None
        return 403 if self.outcome in _FORBIDDEN else 401


_NONCE_BODY = struct.Struct(">qQ")  # issued at (ms of the clock's monotonic time), serial
_NONCE_MAC_BYTES = 16
_NONCE_CHARS = 43  # base64url of 32 bytes, unpadded
_NONCE_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class _Nonce(enum.Enum):
    FRESH = "fresh"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class DigestAuthority:
    """Challenges requests and checks their credentials for one realm.

    Nonces are stateless: each is its issue time and a serial number, signed with an HMAC of
    `secret_key` and of a salt drawn when the authority is made, so that any nonce can be
    checked (ours, not forged, not older than `nonce_ttl_s`) without being stored, and nonces
    of an earlier run are refused as stale. Replays are caught by a ledger of the nonces that
    were used, bounded to `replay_window` entries: with qop the nonce count must grow; without
    qop (RFC 2069, as pyVoIP answers) a nonce serves once, which pyVoIP's flow of one
    challenge per request satisfies. When the ledger overflows, the oldest entries go and every
    nonce issued before them is refused as stale: clients re-authenticate, none replays.
    Not thread-safe: meant for one event loop.
    """

    def __init__(
        self,
        *,
        realm: str,
        secret_key: bytes,
        clock: Clock,
        password_of: Callable[[str], str | None],
        nonce_ttl_s: float = 300.0,
        algorithms: Sequence[str] = ("MD5", "SHA-256"),
        replay_window: int = 65_536,
    ) -> None:
        if not realm:
            raise ValueError("the realm must not be empty")
        _quote(realm, "realm")
        if len(secret_key) < 16:
            raise ValueError(f"the secret key must be at least 16 bytes, not {len(secret_key)}")
        if nonce_ttl_s <= 0:
            raise ValueError(f"the nonce lifetime must be positive, not {nonce_ttl_s}")
        if replay_window < 1:
            raise ValueError(f"the replay window must hold at least one nonce, not {replay_window}")
        offered: list[str] = []
        for name in algorithms:
            canonical = canonical_algorithm(name)
            if canonical is None:
                raise ValueError(f"the algorithm {name!r} is not supported")
            if canonical in offered:
                raise ValueError(f"the algorithm {canonical} is offered twice")
            offered.append(canonical)
        if not offered:
            raise ValueError("the authority must offer at least one algorithm")
        self.realm = realm
        self.nonce_ttl_s = nonce_ttl_s
        self.algorithms: tuple[str, ...] = tuple(offered)
        self._key = secret_key
        self._salt = secrets.token_bytes(16) + realm.encode("utf-8")
        self._clock = clock
        self._password_of = password_of
        self._ttl_ms = int(nonce_ttl_s * 1000)
        self._serial = 0
        self._window = replay_window
        self._used: OrderedDict[int, tuple[int, int]] = OrderedDict()  # serial -> issued, top nc
        self._floor = 0  # serials up to this one lost their ledger entry

    def __repr__(self) -> str:
        return (
            f"DigestAuthority(realm={self.realm!r}, algorithms={self.algorithms!r}, "
            f"nonce_ttl_s={self.nonce_ttl_s!r})"
        )

    @property
    def tracked_nonces(self) -> int:
        """How many used nonces the replay ledger holds (at most `replay_window`)."""
        return len(self._used)

    def challenges(self, stale: bool = False) -> list[Challenge]:
        """One challenge per offered algorithm, all on one fresh nonce, in offering order.

        The order departs from RFC 8760 section 2.3 (most preferred first) on purpose: MD5 comes
        first by default because pyVoIP 1.6.8 reads only the first WWW-Authenticate and only
        does MD5. Clients that choose by strength, as `pick` does, still take SHA-256.
        """
        nonce = self._issue_nonce()
        return [
            Challenge(
                realm=self.realm, nonce=nonce, algorithm=algorithm, qop=("auth",), stale=stale
            )
            for algorithm in self.algorithms
        ]

    def verify(self, method: str, authorization: str | Sequence[str] | None) -> AuthResult:
        """Check the credentials a request carries (its Authorization values, or None).

        With several values, the first one for this realm counts (RFC 3261 section 22.3).
        """
        values = [authorization] if isinstance(authorization, str) else list(authorization or ())
        values = [value for value in values if value.strip()]
        if not values:
            return self._challenge(AuthOutcome.MISSING, "the request carries no credentials")
        credentials: DigestResponse | None = None
        first_error: str | None = None
        other_realm: str | None = None
        for value in values:
            try:
                parsed = parse_authorization(value)
            except DigestError as error:
                first_error = first_error or str(error)
                continue
            if parsed.realm == self.realm:
                credentials = parsed
                break
            other_realm = other_realm or parsed.realm
        if credentials is None:
            if other_realm is not None:
                return self._challenge(
                    AuthOutcome.REALM_MISMATCH,
                    f"the credentials are for realm {_shown(other_realm)}, not {self.realm!r}",
                )
            return self._challenge(AuthOutcome.MALFORMED, first_error or "unreadable credentials")
        return self._check(method, credentials)

    def _check(self, method: str, credentials: DigestResponse) -> AuthResult:
        user = credentials.username
        if credentials.algorithm not in self.algorithms:
            return self._challenge(
                AuthOutcome.MALFORMED, f"the algorithm {credentials.algorithm} was not offered"
            )
        # qop=auth is what we offer; no qop at all is the RFC 2069 form that RFC 3261 section
        # 22.4 keeps for compatibility, and the one pyVoIP 1.6.8 sends whatever is offered.
        if credentials.qop not in (None, "auth"):
            return self._challenge(
                AuthOutcome.MALFORMED, f"the qop {_shown(credentials.qop or '')} was not offered"
            )
        password = self._password_of(user)
        # The digest `uri` is taken as the client wrote it and never compared with the
        # Request-URI: RFC 3261 section 22.4 says the two may differ without it being a failure
        # (a proxy may have retargeted the request), and pyVoIP 1.6.8 always answers with
        # "sip:<server>;transport=UDP", for a REGISTER to sip:<server> as for an INVITE to
        # sip:<number>@<server>. The response is checked against the uri it was computed on.
        expected = compute_response(
            algorithm=credentials.algorithm,
            username=user,
            realm=self.realm,
            password=password if password is not None else "",
            method=method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            qop=credentials.qop,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
        )
        # Computed even for an unknown user, so that the time taken does not tell users apart.
        matches = hmac.compare_digest(expected.encode("ascii"), credentials.response.encode())
        if password is None:
            return AuthResult(AuthOutcome.UNKNOWN_USER, f"no such user {_shown(user)}", user)
        if not matches:
            return AuthResult(
                AuthOutcome.WRONG_PASSWORD, f"wrong password for {_shown(user)}", user
            )
        # The digest is right from here on, which is when RFC 7616 lets stale=true be said.
        # One reading of the clock for both steps, so a nonce cannot expire between them.
        now = self._now_ms()
        state, serial, issued = self._read_nonce(credentials.nonce, now)
        if state is not _Nonce.FRESH:
            return self._challenge(
                AuthOutcome.STALE_NONCE, f"the nonce is {state.value}", user, stale=True
            )
        refusal = self._consume(serial, issued, credentials.nonce_count, now)
        if refusal is not None:
            return self._challenge(AuthOutcome.REPLAYED, refusal, user, stale=True)
        return AuthResult(AuthOutcome.OK, f"authenticated {_shown(user)}", user)

    def _challenge(
        self, outcome: AuthOutcome, reason: str, username: str | None = None, *, stale: bool = False
    ) -> AuthResult:
        return AuthResult(outcome, reason, username, tuple(self.challenges(stale=stale)))

    def _now_ms(self) -> int:
        return int(self._clock.monotonic() * 1000)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, self._salt + body, hashlib.sha256).digest()[:_NONCE_MAC_BYTES]

    def _issue_nonce(self) -> str:
        self._serial += 1
        body = _NONCE_BODY.pack(self._now_ms(), self._serial)
        return self._encode(body + self._mac(body))

    def _read_nonce(self, nonce: str, now: int) -> tuple[_Nonce, int, int]:
        """Whether `nonce` is one of ours and still fresh, with its serial and issue time."""
        if len(nonce) != _NONCE_CHARS or not _NONCE_SHAPE.fullmatch(nonce):
            return _Nonce.UNKNOWN, 0, 0
        raw = base64.urlsafe_b64decode(nonce + "=")
        body, mac = raw[: _NONCE_BODY.size], raw[_NONCE_BODY.size :]
        # Re-encoding catches the spellings that differ only in the last character's spare bits.
        if not hmac.compare_digest(mac, self._mac(body)) or self._encode(raw) != nonce:
            return _Nonce.UNKNOWN, 0, 0
        issued, serial = _NONCE_BODY.unpack(body)
        if issued > now or serial > self._serial:
            return _Nonce.UNKNOWN, 0, 0
        if now - issued > self._ttl_ms:
            return _Nonce.EXPIRED, serial, issued
        return _Nonce.FRESH, serial, issued

    @staticmethod
    def _encode(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def _consume(self, serial: int, issued: int, count: int | None, now: int) -> str | None:
        """Record a use of nonce `serial` at `now`; why not, if it may replay an earlier use."""
        while self._used:
            oldest_issued = next(iter(self._used.values()))[0]
            if now - oldest_issued <= self._ttl_ms:
                break
            self._used.popitem(last=False)  # expired: its nonce is refused by time anyway
        entry = self._used.get(serial)
        if entry is None and serial <= self._floor:
            return "the nonce is too old to be told apart from a replay"
        if entry is not None:
            if count is None or entry[1] == _EXHAUSTED:
                return "the nonce was already used"
            if count <= entry[1]:
                return f"the nonce count {count} is not above the last one, {entry[1]}"
        self._used[serial] = (issued, _EXHAUSTED if count is None else count)
        while len(self._used) > self._window:
            dropped, _ = self._used.popitem(last=False)
            self._floor = max(self._floor, dropped)
        return None
