"""A box's WAN behind a real shaped link: rates from the DSL model, measurement, cleanup."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.dsl import (
    DslLine,
    LineProfile,
    Technology,
    atm_line_bytes,
    ip_rate_kbps,
    ptm_line_bytes,
)
from labs import link
from labs.link import (
    ATM_OVERHEAD_BYTES,
    PTM_OVERHEAD_BYTES,
    LinkMeasure,
    LinkMeasureError,
    LinkProfileError,
    LinkStateError,
    LinkUnavailable,
    ShapedLink,
    line_bytes,
    link_unavailable,
    modelled_ip_kbps,
)
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.model import InternetTerms

TERMS: InternetTerms = Catalogue.load().offer("optimale-pro-intense").internet
UNAVAILABLE = link_unavailable()
needs_link = pytest.mark.skipif(
    UNAVAILABLE is not None, reason=f"no shaped link on this machine: {UNAVAILABLE}"
)
#: Each direction is measured this long (after the warm-up): long enough for a few hundred
#: full-size packets at 800 kb/s, short enough for the suite.
MEASURE_S = 2.0
TOLERANCE = 0.10


def line(technology: str, attenuation_db: float, *, tv: bool = False) -> DslLine:
    profile = LineProfile(Technology(technology), attenuation_db=attenuation_db, tv_in_use=tv)
    return DslLine(profile, TERMS, clock=SimulatedClock())


def adsl_8_mbps() -> DslLine:
    """An ADSL2+ line of 8 Mb/s IP down, held to the offer's 800 kb/s up."""
    return line("adsl2+", 35.3)


def vdsl_23_mbps() -> DslLine:
    """A VDSL2 line of 1.2 km: 23.5 Mb/s IP down, 3.9 Mb/s up, below the offer's caps."""
    return line("vdsl2", 18.0)


def namespaces() -> set[str]:
    listed = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return {row.split()[0] for row in listed.splitlines() if row.strip()}


def host_interfaces() -> list[tuple[object, ...]]:
    """The host's interfaces as a lab could disturb them: names, flags, MTU, addresses, qdisc."""
    shown = subprocess.run(
        ["ip", "-j", "address", "show"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return sorted(
        (
            interface["ifname"],
            tuple(sorted(interface.get("flags", ()))),
            interface.get("mtu"),
            interface.get("qdisc"),
            tuple(
                sorted(
                    (address["local"], address["prefixlen"])
                    for address in interface.get("addr_info", ())
                )
            ),
        )
        for interface in json.loads(shown)
    )


def qdiscs(namespace: str, device: str) -> str:
    return subprocess.run(
        ["tc", "-n", namespace, "-d", "qdisc", "show", "dev", device],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout


def htb_rate(namespace: str, device: str) -> str:
    shown = subprocess.run(
        ["tc", "-n", namespace, "class", "show", "dev", device],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    (rate,) = re.findall(r"^class htb 1:1 .* rate (\S+) ", shown, flags=re.MULTILINE)
    return str(rate)


# --- Rates and framing from the DSL model --------------------------------------------


def test_adsl_line_is_shaped_in_atm_cells_at_its_sync_rate_down() -> None:
    dsl = adsl_8_mbps()
    shaped = ShapedLink.for_line(dsl)
    assert (shaped.framing, shaped.overhead_bytes) == ("atm", 40)
    assert shaped.down_kbps == dsl.rates.sync_down_kbps == 9_093
    assert shaped.modelled_down_kbps == dsl.ip_rates().down_kbps == 7_999


def test_adsl_upstream_is_held_to_the_offers_800_kbps_not_its_sync_rate() -> None:
    dsl = adsl_8_mbps()
    shaped = ShapedLink.for_line(dsl)
    assert dsl.rates.sync_up_kbps == 1_017
    # 910 kb/s of cells carry 800 kb/s of IP in 1492-byte packets: 32 cells of 53 bytes each.
    assert shaped.up_kbps == 910
    assert shaped.modelled_up_kbps == dsl.ip_rates().up_kbps == 800


def test_vdsl_line_is_shaped_in_ptm_at_its_sync_rates() -> None:
    dsl = vdsl_23_mbps()
    shaped = ShapedLink.for_line(dsl)
    assert (shaped.framing, shaped.overhead_bytes) == ("ptm", 34)
    assert (shaped.down_kbps, shaped.up_kbps) == (24_400, 4_100)
    ip = dsl.ip_rates()
    assert (shaped.modelled_down_kbps, shaped.modelled_up_kbps) == (ip.down_kbps, ip.up_kbps)
    assert (ip.down_kbps, ip.up_kbps) == (23_489, 3_946)


def test_vdsl_beyond_its_reach_trains_in_adsl2_plus_and_is_framed_in_atm() -> None:
    dsl = line("vdsl2", 30.0)
    assert ShapedLink.for_line(dsl).framing == "atm"


def test_tv_in_use_shapes_internet_down_to_its_dedicated_4_mbps() -> None:
    shaped = ShapedLink.for_line(line("vdsl2", 18.0, tv=True))
    assert shaped.modelled_down_kbps == 4_000
    assert shaped.down_kbps < 24_400


def test_overheads_are_the_encapsulations_the_dsl_model_counts() -> None:
    assert line_bytes("atm", ATM_OVERHEAD_BYTES) == atm_line_bytes() == 1_696
    assert line_bytes("ptm", PTM_OVERHEAD_BYTES) == ptm_line_bytes()


@given(st.integers(min_value=1, max_value=200_000))
def test_a_line_rate_carries_the_ip_rate_the_dsl_model_says(sync_kbps: int) -> None:
    atm = modelled_ip_kbps(sync_kbps, "atm", ATM_OVERHEAD_BYTES)
    ptm = modelled_ip_kbps(sync_kbps, "ptm", PTM_OVERHEAD_BYTES)
    assert atm == ip_rate_kbps(sync_kbps, Technology.ADSL2_PLUS)
    assert ptm == ip_rate_kbps(sync_kbps, Technology.VDSL2)


@given(
    technology=st.sampled_from(["adsl2+", "vdsl2"]),
    attenuation_db=st.floats(min_value=0, max_value=80),
    tv=st.booleans(),
)
def test_every_trained_line_gives_a_link_of_exactly_its_ip_rates(
    technology: str, attenuation_db: float, tv: bool
) -> None:
    dsl = line(technology, attenuation_db, tv=tv)
    shaped = ShapedLink.for_line(dsl)
    ip = dsl.ip_rates()
    assert (shaped.modelled_down_kbps, shaped.modelled_up_kbps) == (ip.down_kbps, ip.up_kbps)
    assert shaped.down_kbps <= dsl.rates.sync_down_kbps
    assert shaped.up_kbps <= dsl.rates.sync_up_kbps


def test_a_line_that_is_down_has_no_rates_to_give_a_link() -> None:
    dsl = adsl_8_mbps()
    dsl.cut()
    with pytest.raises(LinkProfileError, match="dsl0 is Down: a line must be Up"):
        ShapedLink.for_line(dsl)


def test_a_line_without_sync_has_no_rates_to_give_a_link() -> None:
    with pytest.raises(LinkProfileError, match="dsl0 is Down"):
        ShapedLink.for_line(line("adsl2+", 95.0))


# --- Asked wrongly ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "up", "message"),
    [
        (0, 800, r"down_kbps must be above 0 and at most 1000000 kb/s \(got 0\)"),
        (8_000, -1, r"up_kbps must be above 0 and at most 1000000 kb/s \(got -1\)"),
        (2_000_000, 800, r"down_kbps must be above 0 and at most 1000000 kb/s"),
        (8_000.5, 800, r"down_kbps must be a whole number of kb/s \(got 8000.5\)"),
        (8_000, True, r"up_kbps must be a whole number of kb/s \(got True\)"),
    ],
)
def test_rates_must_be_whole_positive_kbps(down: object, up: object, message: str) -> None:
    with pytest.raises(LinkProfileError, match=message):
        ShapedLink(down, up, framing="atm", overhead_bytes=40)  # type: ignore[arg-type]


def test_framing_is_atm_or_ptm() -> None:
    with pytest.raises(LinkProfileError, match="unknown framing 'vdsl'; expected one of: atm, ptm"):
        ShapedLink(8_000, 800, framing="vdsl", overhead_bytes=40)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overhead", "message"),
    [
        (-1, r"overhead_bytes must be from 0 to 256 \(got -1\)"),
        (257, r"overhead_bytes must be from 0 to 256 \(got 257\)"),
        ("40", r"overhead_bytes must be a whole number of bytes \(got '40'\)"),
    ],
)
def test_overhead_is_a_few_whole_bytes(overhead: object, message: str) -> None:
    with pytest.raises(LinkProfileError, match=message):
        ShapedLink(8_000, 800, framing="atm", overhead_bytes=overhead)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (0, r"seconds must be above 0 and at most 60 \(got 0\)"),
        (61.0, r"seconds must be above 0 and at most 60 \(got 61.0\)"),
        ("3", r"seconds must be a number \(got '3'\)"),
    ],
)
async def test_measuring_time_is_a_positive_number_of_seconds(
    seconds: object, message: str
) -> None:
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    with pytest.raises(LinkProfileError, match=message):
        await shaped.measure(seconds)  # type: ignore[arg-type]


async def test_a_link_is_measured_only_inside_its_async_with() -> None:
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    with pytest.raises(LinkStateError, match="inside its `async with`"):
        await shaped.measure()


# --- The measure ------------------------------------------------------------------------


def test_within_is_the_worst_directions_relative_error() -> None:
    measure = LinkMeasure(
        modelled_down_kbps=8_000,
        measured_down_kbps=7_600,
        modelled_up_kbps=800,
        measured_up_kbps=808,
    )
    assert measure.within == pytest.approx(0.05)


def test_within_of_a_direction_modelled_at_zero() -> None:
    assert LinkMeasure(0, 0, 800, 800).within == 0.0
    assert LinkMeasure(0, 10, 800, 800).within == float("inf")


# --- Names and addresses ----------------------------------------------------------------


def test_each_link_has_its_own_lblab_namespaces_and_10_x_addresses() -> None:
    first = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    second = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    box, network = first.namespaces
    assert box.startswith("lblab-box-")
    assert network.startswith("lblab-net-")
    assert box.removeprefix("lblab-box-") == network.removeprefix("lblab-net-")
    assert set(first.namespaces).isdisjoint(second.namespaces)
    assert first.box_address.startswith("10.")
    assert first.box_address.rsplit(".", 1)[0] == first.network_address.rsplit(".", 1)[0]


# --- When the machine cannot -------------------------------------------------------------


def test_without_iproute2_the_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labs.link.shutil.which", lambda name: None)
    assert link_unavailable() == "the `ip` command (iproute2) is not installed"


def test_without_rights_the_reason_says_to_run_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link, "_effective_capabilities", lambda: 0)
    reason = link_unavailable()
    assert reason is not None
    assert "needs CAP_SYS_ADMIN and CAP_NET_ADMIN: run as root" in reason


async def test_entering_a_link_without_rights_raises_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(link, "_effective_capabilities", lambda: 0)
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    with pytest.raises(LinkUnavailable, match="run as root"):
        async with shaped:
            pass


# --- Real links (root, iproute2, veth, HTB) ----------------------------------------------


@needs_link
async def test_atm_link_carries_the_adsl_lines_ip_rates_within_10_percent() -> None:
    before = host_interfaces()
    async with ShapedLink.for_line(adsl_8_mbps()) as shaped:
        measure = await shaped.measure(MEASURE_S)
    assert (measure.modelled_down_kbps, measure.modelled_up_kbps) == (7_999, 800)
    assert measure.within <= TOLERANCE, measure
    assert host_interfaces() == before


@needs_link
async def test_ptm_link_carries_the_vdsl_lines_ip_rates_within_10_percent() -> None:
    before = host_interfaces()
    async with ShapedLink.for_line(vdsl_23_mbps()) as shaped:
        measure = await shaped.measure(MEASURE_S)
    assert (measure.modelled_down_kbps, measure.modelled_up_kbps) == (23_489, 3_946)
    assert measure.within <= TOLERANCE, measure
    assert host_interfaces() == before


@needs_link
async def test_atm_shaping_counts_cells_and_the_encapsulation_both_ways() -> None:
    async with ShapedLink.for_line(adsl_8_mbps()) as shaped:
        # The veth frame already holds the 14-byte Ethernet header: 40 - 14 = 26 more.
        assert "linklayer atm overhead 26" in qdiscs(shaped.network_namespace, "dsl0")
        assert "linklayer atm overhead 26" in qdiscs(shaped.box_namespace, "wan0")
        assert htb_rate(shaped.network_namespace, "dsl0") == "9093Kbit"
        assert htb_rate(shaped.box_namespace, "wan0") == "910Kbit"


@needs_link
async def test_ptm_shaping_runs_at_64_65_of_the_line_without_atm_cells() -> None:
    async with ShapedLink.for_line(vdsl_23_mbps()) as shaped:
        down = qdiscs(shaped.network_namespace, "dsl0")
        assert "overhead 20" in down
        assert "atm" not in down
        # 24 400 kb/s of line, 64/65 of it codeword payload.
        assert htb_rate(shaped.network_namespace, "dsl0") == "24024Kbit"
        assert htb_rate(shaped.box_namespace, "wan0") == "4036Kbit"


@needs_link
async def test_the_namespaces_exist_inside_and_are_gone_after() -> None:
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    async with shaped:
        assert set(shaped.namespaces) <= namespaces()
    assert set(shaped.namespaces).isdisjoint(namespaces())
    for name in shaped.namespaces:
        assert not (Path("/run/netns") / name).exists()


@needs_link
async def test_the_namespaces_are_gone_after_an_exception_inside() -> None:
    shaped = ShapedLink(8_000, 800, framing="ptm", overhead_bytes=34)

    async def fail_inside() -> None:
        async with shaped:
            assert set(shaped.namespaces) <= namespaces()
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        await fail_inside()
    assert set(shaped.namespaces).isdisjoint(namespaces())


@needs_link
async def test_a_link_that_fails_to_build_says_why_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    built = shaped._setup_commands()
    broken = ["tc", "-n", shaped.box_namespace, "qdisc", "add", "dev", "nowhere0", "root", "htb"]
    monkeypatch.setattr(shaped, "_setup_commands", lambda: [*built[:4], broken, *built[4:]])
    with pytest.raises(LinkUnavailable, match=r"nowhere0.* failed: "):
        async with shaped:
            pass
    assert set(shaped.namespaces).isdisjoint(namespaces())


@needs_link
async def test_the_hosts_interfaces_are_unchanged() -> None:
    before = host_interfaces()
    async with ShapedLink(8_000, 800, framing="atm", overhead_bytes=40) as shaped:
        assert host_interfaces() == before
        assert {"wan0", "dsl0"}.isdisjoint(str(row[0]) for row in host_interfaces())
        assert shaped.box_address not in json.dumps(host_interfaces())
    assert host_interfaces() == before


@needs_link
async def test_a_link_is_entered_once() -> None:
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    async with shaped:
        with pytest.raises(LinkStateError, match="already entered; make a new ShapedLink"):
            await shaped.__aenter__()
    with pytest.raises(LinkStateError, match="inside its `async with`"):
        await shaped.measure()


@needs_link
@pytest.mark.parametrize(
    ("receiver", "message"),
    [
        (
            "import sys; sys.exit('no listening today')",
            r"the downstream receiver failed \(exit status 1\): no listening today",
        ),
        (
            "print('hello', flush=True)",
            r"a measuring script printed b'hello\\n', not a JSON object with 'port'",
        ),
    ],
)
async def test_a_measurement_that_fails_says_what_failed(
    monkeypatch: pytest.MonkeyPatch, receiver: str, message: str
) -> None:
    monkeypatch.setattr("labs.link._RECEIVER", receiver)
    shaped = ShapedLink(8_000, 800, framing="atm", overhead_bytes=40)
    async with shaped:
        with pytest.raises(LinkMeasureError, match=message):
            await shaped.measure(0.5)
    assert set(shaped.namespaces).isdisjoint(namespaces())
