"""Digest authentication between the box's VoIP line and the operator core: RFC vectors, pyVoIP."""

from __future__ import annotations

import contextlib
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.sip.digest import (
    ALGORITHMS,
    MAX_VALUE_CHARS,
    AuthOutcome,
    AuthResult,
    Challenge,
    Credentials,
    DigestAuthority,
    DigestError,
    DigestResponse,
    answer,
    compute_response,
    parse_authorization,
    parse_challenge,
    pick,
)
from profiles.clock import SimulatedClock

REALM = "core.livebox-lab"
LINE = "0145678901"
PASSWORD = "s3cret-Voip-Line"
KEY = b"k" * 32

# RFC 7616 section 3.9.1 (password with a lower-case "of", errata 4495).
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def authority(clock: SimulatedClock, **overrides: object) -> DigestAuthority:
    users = {LINE: PASSWORD, "0145678902": "another-one"}
    arguments: dict[str, object] = {
        "realm": REALM,
        "secret_key": KEY,
        "clock": clock,
        "password_of": users.get,
        "nonce_ttl_s": 300,
    }
    arguments.update(overrides)
    return DigestAuthority(**arguments)  # type: ignore[arg-type]


def line_answers(
    core: DigestAuthority,
    *,
    method: str = "REGISTER",
    password: str = PASSWORD,
    prefer: tuple[str, ...] = ("SHA-256", "MD5"),
    **options: object,
) -> str:
    challenge = pick(core.challenges(), prefer)
    return answer(
        challenge,
        method=method,
        uri=f"sip:{REALM}",
        username=LINE,
        password=password,
        **options,  # type: ignore[arg-type]
    )


def pyvoip_register(
    realm: str, nonce: str, password: str = PASSWORD, method: str = "REGISTER"
) -> str:
    """What pyVoIP 1.6.8 sends: MD5 without qop, uri "sip:<server>;transport=UDP", no spaces."""
    server = "127.0.0.1"
    ha1 = hashlib.md5(f"{LINE}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:sip:{server};transport=UDP".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{LINE}",realm="{realm}",nonce="{nonce}",'
        f'uri="sip:{server};transport=UDP",response="{response}",algorithm=MD5'
    )


# Known answers from the RFCs.


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_examples_for_mufasa(algorithm: str, expected: str) -> None:
    challenge = parse_challenge(RFC7616_CHALLENGE.format(algorithm))
    assert challenge.qop == ("auth", "auth-int")
    value = answer(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616_CNONCE,
    )
    credentials = parse_authorization(value)
    assert credentials.response == expected
    assert credentials.algorithm == algorithm
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (
        "auth",
        "00000001",
        RFC7616_CNONCE,
    )
    assert credentials.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def test_rfc_2617_example_reads_and_computes() -> None:
    credentials = parse_authorization(
        'Digest username="Mufasa",\t realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
        'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert credentials.nonce_count == 1
    assert credentials.response == compute_response(
        algorithm=credentials.algorithm,
        username=credentials.username,
        realm=credentials.realm,
        password="Circle Of Life",
        method="GET",
        uri=credentials.uri,
        nonce=credentials.nonce,
        qop=credentials.qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
    )


def test_rfc_2069_example_without_qop_as_corrected_by_its_errata() -> None:
    challenge = Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=(),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    value = answer(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="CircleOfLife"
    )
    credentials = parse_authorization(value)
    assert credentials.response == "1949323746fe6a43ef61f9606e7febea"
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    assert "qop" not in value
    assert "cnonce" not in value


def test_auth_int_hashes_the_body() -> None:
    challenge = Challenge(realm=REALM, nonce="abc", qop=("auth-int",))
    body = b"v=0\r\n"
    value = answer(
        challenge,
        method="INVITE",
        uri="sip:x@y",
        username=LINE,
        password=PASSWORD,
        cnonce="c",
        body=body,
    )
    credentials = parse_authorization(value)
    assert credentials.qop == "auth-int"

    def digest(of: bytes) -> str:
        return compute_response(
            algorithm="MD5",
            username=LINE,
            realm=REALM,
            password=PASSWORD,
            method="INVITE",
            uri="sip:x@y",
            nonce="abc",
            qop="auth-int",
            nc="00000001",
            cnonce="c",
            body=of,
        )

    assert credentials.response == digest(body)
    assert credentials.response != digest(b"other")


# Reading and writing challenges.


def test_challenge_round_trips_with_escapes() -> None:
    challenge = Challenge(
        realm='say "hi" \\ bye', nonce="n1", algorithm="SHA-256", opaque="op", stale=True
    )
    value = challenge.to_header()
    assert value == (
        'Digest realm="say \\"hi\\" \\\\ bye", nonce="n1", algorithm=SHA-256, qop="auth", '
        'opaque="op", stale=true'
    )
    assert parse_challenge(value) == challenge


@given(
    realm=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30),
    nonce=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30),
    algorithm=st.sampled_from(ALGORITHMS),
    stale=st.booleans(),
)
def test_any_challenge_reads_back_as_written(
    realm: str, nonce: str, algorithm: str, stale: bool
) -> None:
    challenge = Challenge(realm=realm, nonce=nonce, algorithm=algorithm, stale=stale)
    assert parse_challenge(challenge.to_header()) == challenge


def test_challenge_defaults_follow_rfc_2617() -> None:
    challenge = parse_challenge('digest  nonce="n", realm="r", stale=TRUE, algorithm=md5-SESS')
    assert challenge == Challenge(realm="r", nonce="n", algorithm="MD5-sess", qop=(), stale=True)
    plain = parse_challenge('Digest realm="r", nonce="n"')
    assert (plain.algorithm, plain.qop, plain.stale) == ("MD5", (), False)


def test_unknown_algorithm_is_kept_so_a_client_can_skip_it() -> None:
    challenge = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-3-FUTURE')
    assert challenge.algorithm == "SHA-3-FUTURE"
    assert not challenge.supported


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "no authentication scheme"),
        ('Basic realm="r"', "the challenge scheme is 'Basic', not Digest"),
        ("Digest", "no parameters"),
        ('Digest realm="r"', "has no nonce"),
        ('Digest nonce="n"', "has no realm"),
        ('Digest realm="r", nonce="n", realm="s"', "'realm' appears twice"),
        ('Digest realm="r", NONCE="n", nonce="m"', "'nonce' appears twice"),
        ('Digest realm="r, nonce=n', "'realm' has an unterminated quoted string"),
        ('Digest realm="r\\', "unterminated quoted string"),
        ('Digest realm="r" nonce="n"', "followed by 'n', not a comma"),
        ("Digest realm=, nonce=n", "'realm' has an empty value"),
        ('Digest realm="r", nonce', "'nonce' has no value"),
        ('Digest realm="r", =x', "'=' where a parameter name should be"),
        ('Digest realm="r", nonce="n", Digest realm="s", nonce="m"', "more than one challenge"),
        ('Digest realm="r\r\n", nonce="n"', "control character"),
        ('Digest,realm="r"', "needs a space after Digest"),
    ],
)
def test_malformed_challenges_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(DigestError, match=re.escape(message)):
        parse_challenge(value)


def test_huge_values_are_refused_before_being_read() -> None:
    value = f'Digest realm="{"r" * MAX_VALUE_CHARS}", nonce="n"'
    with pytest.raises(DigestError, match=f"the limit is {MAX_VALUE_CHARS}"):
        parse_challenge(value)
    with pytest.raises(DigestError, match=f"the limit is {MAX_VALUE_CHARS}"):
        parse_authorization(value)


def test_empty_list_elements_are_allowed() -> None:
    assert parse_challenge('Digest , realm="r",, nonce="n" ,').nonce == "n"


def test_a_challenge_cannot_smuggle_a_header_line() -> None:
    with pytest.raises(DigestError, match="the realm holds a control character"):
        Challenge(realm="r\r\nVia: evil", nonce="n").to_header()
    with pytest.raises(DigestError, match="the algorithm 'MD5 x' is not a token"):
        Challenge(realm="r", nonce="n", algorithm="MD5 x").to_header()


# Reading credentials.


VALID = (
    'Digest username="u", realm="r", nonce="n", uri="sip:r", '
    'response="0123456789abcdef0123456789ABCDEF"'
)


def test_credentials_read_with_defaults() -> None:
    credentials = parse_authorization(VALID)
    assert credentials == DigestResponse(
        username="u", realm="r", nonce="n", uri="sip:r", response="0123456789abcdef0123456789abcdef"
    )
    assert credentials.nonce_count is None


def test_unquoted_uri_of_old_clients_is_read() -> None:
    value = VALID.replace('uri="sip:r"', "uri=sip:r;transport=udp")
    assert parse_authorization(value).uri == "sip:r;transport=udp"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (VALID.replace('username="u", ', ""), "has no username"),
        (VALID.replace('uri="sip:r", ', ""), "has no uri"),
        (VALID.replace("response=", "reply="), "has no response"),
        (VALID + ", algorithm=ROT13", "algorithm 'ROT13' is not supported"),
        (VALID + ", algorithm=SHA-256", "not a SHA-256 digest (64 hexadecimal digits)"),
        (VALID.replace("0123", "xyz0"), "not a MD5 digest"),
        (VALID + ', cnonce="c"', "cnonce or nc without qop"),
        (VALID + ", nc=00000001", "cnonce or nc without qop"),
        (VALID + ", qop=auth, nc=00000001", "qop='auth' but no cnonce or nc"),
        (VALID + ', qop=auth, cnonce="c"', "qop='auth' but no cnonce or nc"),
        (VALID + ', qop=auth, cnonce="c", nc=0x000001', "nc '0x000001' is not 8 hexadecimal"),
        (VALID + ', qop=auth, cnonce="c", nc=000000001', "nc '000000001' is not 8 hexadecimal"),
        (VALID + ", algorithm=MD5-sess", "algorithm MD5-sess needs qop"),
        (VALID + ", userhash=true", "userhash, which SIP does not support"),
        (VALID + ', username="v"', "'username' appears twice"),
    ],
)
def test_malformed_credentials_are_refused_with_a_reason(value: str, message: str) -> None:
    with pytest.raises(DigestError, match=re.escape(message)):
        parse_authorization(value)


# Anything at all: only DigestError comes out, and a check never lets it through.

_HEADERISH = st.text(
    alphabet=st.sampled_from(list('Digest usernamrlocqpfh=,"\\ \t0123456789abcdef-:;@\x00\r\né')),
    max_size=200,
)


@settings(max_examples=400)
@given(value=st.one_of(st.text(max_size=300), _HEADERISH))
def test_random_values_raise_only_digest_error(value: str) -> None:
    for parse in (parse_challenge, parse_authorization):
        with contextlib.suppress(DigestError):
            parse(value)


@settings(max_examples=200)
@given(value=st.one_of(st.text(max_size=300), _HEADERISH))
def test_random_credentials_are_never_accepted(value: str) -> None:
    core = authority(SimulatedClock())
    result = core.verify("REGISTER", value)
    assert not result.ok
    assert result.status in (401, 403)


@settings(max_examples=200)
@given(
    nonce=st.text(alphabet=st.sampled_from(list("AZaz09_-=+/")), min_size=40, max_size=46),
)
def test_random_nonces_are_never_ours(nonce: str) -> None:
    core = authority(SimulatedClock())
    value = answer(
        Challenge(realm=REALM, nonce=nonce),
        method="REGISTER",
        uri="sip:x",
        username=LINE,
        password=PASSWORD,
    )
    assert core.verify("REGISTER", value).outcome is AuthOutcome.STALE_NONCE


# The core's registrar challenging.


def test_challenges_offer_md5_first_then_sha256_on_one_fresh_nonce(clock: SimulatedClock) -> None:
    core = authority(clock)
    first, second = core.challenges()
    assert (first.algorithm, second.algorithm) == ("MD5", "SHA-256")
    assert first.nonce == second.nonce
    assert (first.realm, first.qop, first.stale) == (REALM, ("auth",), False)
    assert core.challenges()[0].nonce != first.nonce


def test_pyvoip_reads_the_first_challenge_right(clock: SimulatedClock) -> None:
    """pyVoIP 1.6.8 keeps the text after the first ': ' and matches name="..." or name=run."""
    first = authority(clock).challenges()[0]
    line = f"WWW-Authenticate: {first.to_header()}"
    value = line.split(": ")[1]
    found = re.findall(r'(\w+)=("[^"]+"|[^ \t]+)', value.replace("Digest ", ""))
    read = {name: text.strip('"') for name, text in found}
    assert (read["realm"], read["nonce"]) == (REALM, first.nonce)


def test_request_without_credentials_gets_401_with_challenges(clock: SimulatedClock) -> None:
    core = authority(clock)
    nothings: list[str | list[str] | None] = [None, "", "  ", [], [" "]]
    for nothing in nothings:
        result = core.verify("INVITE", nothing)
        assert (result.outcome, result.status) == (AuthOutcome.MISSING, 401)
        assert [c.algorithm for c in result.challenges] == ["MD5", "SHA-256"]
        assert result.reason == "the request carries no credentials"


@pytest.mark.parametrize("prefer", [("SHA-256",), ("MD5",)])
def test_line_registers_with_qop_auth(clock: SimulatedClock, prefer: tuple[str, ...]) -> None:
    core = authority(clock)
    result = core.verify("REGISTER", line_answers(core, prefer=prefer))
    assert result == AuthResult(AuthOutcome.OK, f"authenticated '{LINE}'", LINE)
    assert result.ok
    assert result.status is None


@pytest.mark.parametrize("method", ["REGISTER", "INVITE"])
def test_pyvoip_answer_without_qop_and_another_uri_is_accepted(
    clock: SimulatedClock, method: str
) -> None:
    core = authority(clock)
    challenge = core.challenges()[0]
    result = core.verify(method, pyvoip_register(challenge.realm, challenge.nonce, method=method))
    assert result.outcome is AuthOutcome.OK
    assert result.username == LINE


def test_uri_is_checked_as_the_client_wrote_it(clock: SimulatedClock) -> None:
    core = authority(clock)
    value = pyvoip_register(REALM, core.challenges()[0].nonce)
    swapped = value.replace("transport=UDP", "transport=TCP")
    assert core.verify("REGISTER", swapped).outcome is AuthOutcome.WRONG_PASSWORD


def test_answer_for_another_method_does_not_count(clock: SimulatedClock) -> None:
    core = authority(clock)
    assert core.verify("INVITE", line_answers(core, method="REGISTER")).status == 403


def test_wrong_password_gets_403_without_challenge(clock: SimulatedClock) -> None:
    core = authority(clock)
    result = core.verify("REGISTER", line_answers(core, password="guess"))
    assert (result.outcome, result.status, result.challenges) == (
        AuthOutcome.WRONG_PASSWORD,
        403,
        (),
    )
    assert result.reason == f"wrong password for '{LINE}'"


def test_unknown_user_gets_403(clock: SimulatedClock) -> None:
    core = authority(clock)
    value = answer(
        core.challenges()[0], method="REGISTER", uri="sip:x", username="0999999999", password="x"
    )
    result = core.verify("REGISTER", value)
    assert (result.outcome, result.status, result.username) == (
        AuthOutcome.UNKNOWN_USER,
        403,
        "0999999999",
    )
    assert result.reason == "no such user '0999999999'"


def test_malformed_credentials_get_401_naming_the_fault(clock: SimulatedClock) -> None:
    result = authority(clock).verify("REGISTER", 'Digest username="u", realm="r"')
    assert (result.outcome, result.status) == (AuthOutcome.MALFORMED, 401)
    assert result.reason == "the Authorization value has no nonce"
    assert len(result.challenges) == 2


def test_credentials_for_another_realm_get_401(clock: SimulatedClock) -> None:
    core = authority(clock)
    other = Challenge(realm="elsewhere", nonce=core.challenges()[0].nonce)
    value = answer(other, method="REGISTER", uri="sip:x", username=LINE, password=PASSWORD)
    result = core.verify("REGISTER", value)
    assert (result.outcome, result.status) == (AuthOutcome.REALM_MISMATCH, 401)
    assert result.reason == f"the credentials are for realm 'elsewhere', not '{REALM}'"


def test_the_value_for_our_realm_counts_among_several(clock: SimulatedClock) -> None:
    core = authority(clock)
    ours = line_answers(core)
    theirs = answer(
        Challenge(realm="proxy.example", nonce="x"),
        method="REGISTER",
        uri="sip:x",
        username="a",
        password="b",
    )
    assert core.verify("REGISTER", ["Digest junk", theirs, ours]).ok


def test_algorithm_not_offered_is_refused(clock: SimulatedClock) -> None:
    core = authority(clock)
    offered = core.challenges()[0]
    sha512 = Challenge(realm=REALM, nonce=offered.nonce, algorithm="SHA-512-256")
    value = answer(sha512, method="REGISTER", uri="sip:x", username=LINE, password=PASSWORD)
    result = core.verify("REGISTER", value)
    assert (result.outcome, result.reason) == (
        AuthOutcome.MALFORMED,
        "the algorithm SHA-512-256 was not offered",
    )


def test_qop_not_offered_is_refused(clock: SimulatedClock) -> None:
    core = authority(clock)
    nonce = core.challenges()[0].nonce
    value = answer(
        Challenge(realm=REALM, nonce=nonce, qop=("auth-int",)),
        method="REGISTER",
        uri="sip:x",
        username=LINE,
        password=PASSWORD,
    )
    assert core.verify("REGISTER", value).reason == "the qop 'auth-int' was not offered"


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess", "SHA-512-256"])
def test_other_algorithms_work_when_offered(clock: SimulatedClock, algorithm: str) -> None:
    core = authority(clock, algorithms=(algorithm,))
    assert core.verify("REGISTER", line_answers(core, prefer=(algorithm,))).ok


# Nonce lifetime, on simulated time.


async def test_nonce_is_good_until_its_lifetime_ends(clock: SimulatedClock) -> None:
    core = authority(clock)
    value = line_answers(core)
    await clock.advance(300)
    assert core.verify("REGISTER", value).ok


async def test_expired_nonce_gets_401_stale_with_a_usable_nonce(clock: SimulatedClock) -> None:
    core = authority(clock)
    value = line_answers(core)
    await clock.advance(300.001)
    result = core.verify("REGISTER", value)
    assert (result.outcome, result.status, result.reason) == (
        AuthOutcome.STALE_NONCE,
        401,
        "the nonce is expired",
    )
    assert all(challenge.stale for challenge in result.challenges)
    retry = answer(
        pick(result.challenges), method="REGISTER", uri="sip:x", username=LINE, password=PASSWORD
    )
    assert core.verify("REGISTER", retry).ok


async def test_expired_nonce_with_wrong_password_is_still_403(clock: SimulatedClock) -> None:
    core = authority(clock)
    value = line_answers(core, password="guess")
    await clock.advance(3600)
    assert core.verify("REGISTER", value).outcome is AuthOutcome.WRONG_PASSWORD


def test_nonce_we_never_issued_is_stale(clock: SimulatedClock) -> None:
    core = authority(clock)
    issued = core.challenges()[0].nonce
    forged = ("B" if issued[0] == "A" else "A") + issued[1:]
    for nonce in (forged, issued[:-1] + ("A" if issued[-1] != "A" else "B"), "made-up"):
        value = answer(
            Challenge(realm=REALM, nonce=nonce),
            method="REGISTER",
            uri="sip:x",
            username=LINE,
            password=PASSWORD,
        )
        result = core.verify("REGISTER", value)
        assert (result.outcome, result.reason) == (AuthOutcome.STALE_NONCE, "the nonce is unknown")


def test_nonce_of_an_earlier_run_is_stale(clock: SimulatedClock) -> None:
    before_restart = authority(clock)
    value = line_answers(before_restart)
    assert authority(clock).verify("REGISTER", value).outcome is AuthOutcome.STALE_NONCE


# Replays.


def test_replayed_nonce_count_is_refused(clock: SimulatedClock) -> None:
    core = authority(clock)
    challenge = pick(core.challenges())
    first = answer(
        challenge, method="REGISTER", uri="sip:x", username=LINE, password=PASSWORD, cnonce="c"
    )
    assert core.verify("REGISTER", first).ok
    again = core.verify("REGISTER", first)
    assert (again.outcome, again.status) == (AuthOutcome.REPLAYED, 401)
    assert again.reason == "the nonce count 1 is not above the last one, 1"
    assert all(c.stale for c in again.challenges)


def test_growing_nonce_count_reuses_the_nonce(clock: SimulatedClock) -> None:
    core = authority(clock)
    challenge = pick(core.challenges())

    def sent(nc: int) -> str:
        return answer(
            challenge, method="REGISTER", uri="sip:x", username=LINE, password=PASSWORD, nc=nc
        )

    assert core.verify("REGISTER", sent(1)).ok
    assert core.verify("REGISTER", sent(3)).ok
    assert core.verify("REGISTER", sent(2)).outcome is AuthOutcome.REPLAYED


def test_nonce_without_qop_serves_once(clock: SimulatedClock) -> None:
    core = authority(clock)
    value = pyvoip_register(REALM, core.challenges()[0].nonce)
    assert core.verify("REGISTER", value).ok
    result = core.verify("REGISTER", value)
    assert (result.outcome, result.reason) == (AuthOutcome.REPLAYED, "the nonce was already used")


def test_replay_ledger_stays_bounded_and_still_refuses_replays(clock: SimulatedClock) -> None:
    core = authority(clock, replay_window=2)
    first = line_answers(core)
    assert core.verify("REGISTER", first).ok
    unused_old = line_answers(core)
    for _ in range(3):
        assert core.verify("REGISTER", line_answers(core)).ok
    assert core.tracked_nonces == 2
    for value in (first, unused_old):
        result = core.verify("REGISTER", value)
        assert result.outcome is AuthOutcome.REPLAYED
        assert result.reason == "the nonce is too old to be told apart from a replay"


async def test_replay_ledger_forgets_expired_nonces(clock: SimulatedClock) -> None:
    core = authority(clock)
    for _ in range(3):
        assert core.verify("REGISTER", line_answers(core)).ok
    assert core.tracked_nonces == 3
    await clock.advance(301)
    assert core.verify("REGISTER", line_answers(core)).ok
    assert core.tracked_nonces == 1


# The box's line answering.


def test_pick_takes_the_strongest_preferred_whatever_the_order() -> None:
    md5 = Challenge(realm="r", nonce="n", algorithm="MD5")
    sha = Challenge(realm="r", nonce="n", algorithm="SHA-256")
    odd = Challenge(realm="r", nonce="n", algorithm="SHA-3-FUTURE")
    assert pick([md5, odd, sha]) is sha
    assert pick([md5, sha], prefer=("MD5",)) is md5
    other_md5 = Challenge(realm="s", nonce="n", algorithm="md5")
    assert pick([md5, other_md5]) is md5


def test_pick_refuses_when_nothing_is_supported() -> None:
    odd = Challenge(realm="r", nonce="n", algorithm="SHA-3-FUTURE")
    with pytest.raises(DigestError, match=re.escape("no offered algorithm (SHA-3-FUTURE)")):
        pick([odd])
    with pytest.raises(DigestError, match="no offered algorithm \\(nothing\\)"):
        pick([])
    with pytest.raises(DigestError, match="preferred algorithm 'SHA1' is not supported"):
        pick([odd], prefer=("SHA1",))


def test_answer_draws_a_cnonce_and_echoes_opaque() -> None:
    challenge = Challenge(realm="r", nonce="n", opaque="keep me")
    credentials = parse_authorization(
        answer(challenge, method="REGISTER", uri="sip:r", username="u", password="p")
    )
    assert re.fullmatch("[0-9a-f]{32}", credentials.cnonce or "")
    assert credentials.opaque == "keep me"


@pytest.mark.parametrize(
    ("challenge", "options", "message"),
    [
        (Challenge(realm="r", nonce="n", algorithm="SHA-3"), {}, "algorithm 'SHA-3' is not"),
        (Challenge(realm="r", nonce="n", qop=("auth-conf",)), {}, "no offered qop (auth-conf)"),
        (Challenge(realm="r", nonce="n", algorithm="MD5-sess", qop=()), {}, "needs qop"),
        (Challenge(realm="r", nonce="n"), {"nc": 0}, "between 1 and 4294967295, not 0"),
        (Challenge(realm="r", nonce="n"), {"nc": 1 << 32}, "between 1 and 4294967295"),
        (Challenge(realm="r", nonce="n"), {"username": "a\nb"}, "username holds a control"),
    ],
)
def test_answers_that_cannot_be_made_say_why(
    challenge: Challenge, options: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {
        "method": "REGISTER",
        "uri": "sip:r",
        "username": "u",
        "password": PASSWORD,
    }
    arguments.update(options)
    with pytest.raises(DigestError, match=re.escape(message)) as raised:
        answer(challenge, **arguments)  # type: ignore[arg-type]
    assert PASSWORD not in str(raised.value)


def test_box_line_and_core_agree_end_to_end(clock: SimulatedClock) -> None:
    core = authority(clock)
    headers = [challenge.to_header() for challenge in core.challenges()]
    line = Credentials(LINE, PASSWORD)
    chosen = pick(parse_challenge(value) for value in headers)
    assert chosen.algorithm == "SHA-256"
    value = line.answer(chosen, method="REGISTER", uri=f"sip:{REALM}")
    assert core.verify("REGISTER", value).ok


# Secrets stay secret.


async def test_password_and_key_appear_in_no_repr_reason_or_error(clock: SimulatedClock) -> None:
    core = authority(clock)
    seen: list[str] = [repr(core), repr(Credentials(LINE, PASSWORD))]
    results = [
        core.verify("REGISTER", None),
        core.verify("REGISTER", "Digest nonsense"),
        core.verify("REGISTER", line_answers(core, password=PASSWORD + "x")),
        core.verify("REGISTER", line_answers(core)),
    ]
    stale = line_answers(core)
    await clock.advance(400)
    results.append(core.verify("REGISTER", stale))
    seen += [repr(result) for result in results] + [result.reason for result in results]
    try:
        answer(
            Challenge(realm="r", nonce="n", qop=("x",)),
            method="M",
            uri="u",
            username="u",
            password=PASSWORD,
        )
    except DigestError as error:
        seen.append(str(error))
    text = "\n".join(seen)
    assert PASSWORD not in text
    assert KEY.decode() not in text
    assert {result.outcome for result in results} == {
        AuthOutcome.MISSING,
        AuthOutcome.MALFORMED,
        AuthOutcome.WRONG_PASSWORD,
        AuthOutcome.OK,
        AuthOutcome.STALE_NONCE,
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secret_key": b"short"}, "the secret key must be at least 16 bytes, not 5"),
        ({"nonce_ttl_s": 0}, "the nonce lifetime must be positive, not 0"),
        ({"algorithms": ("MD5", "md5")}, "the algorithm MD5 is offered twice"),
        ({"algorithms": ("SHA1",)}, "the algorithm 'SHA1' is not supported"),
        ({"algorithms": ()}, "the authority must offer at least one algorithm"),
        ({"replay_window": 0}, "the replay window must hold at least one nonce, not 0"),
        ({"realm": ""}, "the realm must not be empty"),
    ],
)
def test_authority_settings_are_checked(
    clock: SimulatedClock, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        authority(clock, **overrides)
