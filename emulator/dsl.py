"""The emulated Livebox's DSL line: rates from technology and attenuation, faults, stats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from profiles.clock import Clock
    from profiles.model import DslBounds, InternetTerms


class DslError(ValueError):
    """Something asked of the DSL model that it cannot do; the message says what and why."""


class LineProfileError(DslError):
    """A line described wrongly (attenuation, length, technology, TV flag)."""


class LineStateError(DslError):
    """A fault or repair that makes no sense in the line's present state."""


class Technology(enum.StrEnum):
    """The DSL technology a line is asked to train in."""

    ADSL2_PLUS = "adsl2+"
    VDSL2 = "vdsl2"


class LinkStatus(enum.StrEnum):
    """`LinkStatus` as the Livebox reports it in its `dsl` MIB."""

    UP = "Up"
    DOWN = "Down"
    INITIALIZING = "Initializing"


# --- Copper ----------------------------------------------------------------------------

#: Loss of 0.4 mm copper pair at 300 kHz, the reference frequency France Télécom quotes line
#: attenuation at ("affaiblissement théorique"): 15.0 dB/km (lafibre.info, "ADSL : Affaiblissement
#: théorique et atténuations mesurées"; French Wikipedia "Asymmetric Digital Subscriber Line":
#: "environ 15 dB/km" for 4/10 mm). A line given by its length is assumed all 0.4 mm.
DB_PER_KM_04MM: Final = 15.0

# --- Attenuation to sync rate ----------------------------------------------------------
# Each curve is (downstream attenuation at 300 kHz in dB, sync rate in kb/s) points, read with
# linear interpolation and held flat beyond both ends. The rate is the current sync (net data)
# rate the box trains at with its target noise margin.

Curve = tuple[tuple[float, int], ...]

#: ADSL2+ (ITU-T G.992.5 Annex A) downstream. 4.1 to 60.8 dB: the ADSL2+ column of the table
#: "Exemples de valeurs d'atténuation et de débits en fonction de la longueur de la ligne",
#: French Wikipedia "Asymmetric Digital Subscriber Line" (field values, 170 m to 5 755 m).
#: 78 dB: placed so that the IP rate meets the offer's 512 kb/s floor exactly at France Télécom's
#: ADSL eligibility threshold of 78 dB (ariase.com: "le seuil d'inéligibilité étant fixé à 78dB").
#: 90 dB: this model's estimate of where a modem no longer trains at all.
ADSL2_PLUS_DOWN: Final[Curve] = (
    (4.1, 19_400),
    (8.4, 18_700),
    (12.5, 18_200),
    (15.5, 16_600),
    (20.3, 14_200),
    (29.7, 11_300),
    (39.6, 7_400),
    (47.6, 5_400),
    (53.0, 4_300),
    (60.8, 3_000),
    (78.0, 583),
    (90.0, 0),
)

#: ADSL2+ Annex A upstream, against the same downstream attenuation. 0 dB: the nominal 1 Mb/s
#: upstream of ADSL2+ (French Wikipedia "ADSL2+": "1 Mbit/s en émission"). 56.2 dB: a Livebox 4
#: capture of `getMIBs dsl` (upstream 1013 kb/s on a line reporting 56.2 dB downstream; the
#: upstream band, 25-138 kHz, barely suffers from length). 78 and 90 dB: this model's estimates.
ADSL2_PLUS_UP: Final[Curve] = (
    (0.0, 1_024),
    (56.2, 1_013),
    (78.0, 320),
    (90.0, 0),
)

#: VDSL2 profile 17a (ITU-T G.993.2) downstream. 0 dB: the 17a nominal 100 Mb/s (profile tables,
#: e.g. tomshardware.fr "Le VDSL2 : 100 Mbit/s, pour qui ?"). 7.5 dB (500 m): still 100 Mb/s on
#: the 17a rate-length chart published by tribalweb.me ("Très Haut Débit : le VDSL2 en
#: approche !"). 13.5 dB (900 m): Nerim's 2013 lab measurement, 40 Mb/s down / 7 Mb/s up
#: (generation-nt.com). 21 dB (1.4 km): Nerim, "les performances du VDSL2 rejoignent celles de
#: l'ADSL2+", so the ADSL2+ curve's value there. 22.5 dB: the end of VDSL2's reach below.
VDSL2_DOWN: Final[Curve] = (
    (0.0, 100_000),
    (7.5, 100_000),
    (13.5, 40_000),
    (21.0, 14_000),
    (22.5, 13_600),
)

#: VDSL2 17a upstream. 0 dB: "jusqu'à 100 mbit/s en download et 50 en sens inverse"
#: (reseaux-telecoms.net). 13.5 dB: Nerim's 7 Mb/s at 900 m. 22.5 dB: this model's estimate,
#: about ADSL2+'s upstream where the two technologies meet.
VDSL2_UP: Final[Curve] = (
    (0.0, 50_000),
    (13.5, 7_000),
    (22.5, 1_200),
)

#: VDSL2 gains over ADSL2+ only on lines up to 1.5 km (ARCEP, comité d'experts cuivre, 2013 and
#: 2014: "le gain de performance du VDSL2 se limite aux lignes de cuivre dont la longueur n'excède
#: pas 1,5 km"), i.e. 22.5 dB of 0.4 mm copper. Beyond it a VDSL2 line trains in ADSL2+.
VDSL2_REACH_DB: Final = 1.5 * DB_PER_KM_04MM

# --- What the box reports besides rates ------------------------------------------------

#: Target noise margin of the rate-adaptive DSLAM profile, in dB. Where a curve is flat at its
#: top (every tone already carries all the bits it can), a shorter line cannot train faster, so
#: each dB less attenuation shows up as a dB more margin instead.
TARGET_MARGIN_DB: Final = 6.0

#: MaxRate (attainable) over CurrRate: two Livebox captures show the attainable rate 1.4 % and
#: 2.6 % above the trained one as the margin settles after training.
ATTAINABLE_OVER_SYNC: Final = 1.02


@dataclasses.dataclass(frozen=True, slots=True)
class _Flavour:
    """How the Livebox describes a line trained in one technology."""

    curve_down: Curve
    curve_up: Curve
    modulation: str  # ModulationType / ModulationHint, as two Livebox 4 captures show them
    standard: str  # StandardUsed
    encapsulation: str  # ChannelEncapsulationType
    profile: str  # CurrentProfile
    up_attenuation_ratio: float
    power_down_dbm: float
    power_up_dbm: float
    training_s: float


_FLAVOURS: Final[dict[Technology, _Flavour]] = {
    Technology.ADSL2_PLUS: _Flavour(
        curve_down=ADSL2_PLUS_DOWN,
        curve_up=ADSL2_PLUS_UP,
        modulation="ADSL",
        standard="G.992.5_Annex_A",
        encapsulation="G.992.3_Annex_K_ATM",
        profile="",
        # The upstream band sits low (25-138 kHz): a capture shows 27.7 dB up for 56.2 down.
        up_attenuation_ratio=0.5,
        power_down_dbm=19.1,
        power_up_dbm=12.1,
        # Typical full ADSL2+ training (handshake, discovery, analysis); no standard figure.
        training_s=30.0,
    ),
    Technology.VDSL2: _Flavour(
        curve_down=VDSL2_DOWN,
        curve_up=VDSL2_UP,
        modulation="VDSL",
        standard="G.993.2_Annex_B",
        encapsulation="G.993.2_Annex_K_PTM",
        profile="17a",
        # Upstream bands of plan 998 sit high: two captures show 38.6/37.1 and 28.5/41.4 dB.
        up_attenuation_ratio=0.85,
        power_down_dbm=14.5,
        power_up_dbm=6.3,
        training_s=60.0,
    ),
}

#: StandardsSupported as the Livebox lists it.
STANDARDS_SUPPORTED: Final = (
    "G.992.1_Annex_A, G.992.1_Annex_B, G.992.1_Annex_C,T1.413, T1.413i2,ETSI_101_388, G.992.2,"
    "G.992.3_Annex_A, G.992.3_Annex_B, G.992.3_Annex_C, G.992.3_Annex_I, G.992.3_Annex_J,"
    "G.992.3_Annex_M, G.992.4,G.992.5_Annex_A, G.992.5_Annex_B, G.992.5_Annex_C, G.992.5_Annex_I,"
    " G.992.5_Annex_J, G.992.5_Annex_M, G.993.1,G.993.1_Annex_A, G.993.2_Annex_A, G.993.2_Annex_B"
)

#: FirmwareVersion: the DSL PHY firmware string of a Livebox 4 capture.
DEFAULT_FIRMWARE: Final = "A2pvbH042x5.d27"

# --- Sync rate to IP rate --------------------------------------------------------------
# Orange carries internet in PPPoE: over ATM (RFC 2684 bridged, LLC/SNAP) on ADSL, over PTM
# with VLAN 835 on VDSL. The figures are for a full-size packet: a 1500-byte Ethernet payload,
# i.e. a 1492-byte IP packet (PPPoE takes 8 of the 1500 bytes).

FULL_PACKET_IP_BYTES: Final = 1492
PPPOE_BYTES: Final = 6 + 2  # PPPoE header + PPP protocol field
ETHERNET_HEADER_BYTES: Final = 14  # destination, source, EtherType
ETHERNET_FCS_BYTES: Final = 4
VLAN_TAG_BYTES: Final = 4
LLC_SNAP_BYTES: Final = 10  # LLC AA-AA-03, OUI 00-80-C2, PID 00-07 (no FCS), 2 bytes of pad
AAL5_TRAILER_BYTES: Final = 8  # UU, CPI, length, CRC-32
ATM_CELL_BYTES: Final = 53
ATM_CELL_PAYLOAD_BYTES: Final = 48
PTM_TC_CRC_BYTES: Final = 2  # G.993.2 Annex K.3 TC-CRC-16
PTM_DELIMITER_BYTES: Final = 2  # start and end control characters of the 64/65 codewords


def atm_cells(ip_bytes: int = FULL_PACKET_IP_BYTES) -> int:
    """ATM cells that carry one IP packet over PPPoE/LLC/AAL5: 32 for a 1492-byte packet."""
    aal5_pdu = ip_bytes + PPPOE_BYTES + ETHERNET_HEADER_BYTES + LLC_SNAP_BYTES + AAL5_TRAILER_BYTES
    return -(-aal5_pdu // ATM_CELL_PAYLOAD_BYTES)


def atm_line_bytes(ip_bytes: int = FULL_PACKET_IP_BYTES) -> int:
    """Bytes on the ADSL line for one IP packet: 32 cells of 53 bytes = 1696 for 1492 bytes."""
    return atm_cells(ip_bytes) * ATM_CELL_BYTES


def ptm_line_bytes(ip_bytes: int = FULL_PACKET_IP_BYTES) -> Fraction:
    """Bytes on the VDSL line for one IP packet: the tagged Ethernet frame, TC-CRC and
    delimiters, then one sync byte per 64 (64/65 encapsulation): 1526 * 65/64 for 1492 bytes."""
    frame = (
        ip_bytes
        + PPPOE_BYTES
        + VLAN_TAG_BYTES
        + ETHERNET_HEADER_BYTES
        + ETHERNET_FCS_BYTES
        + PTM_TC_CRC_BYTES
        + PTM_DELIMITER_BYTES
    )
    return Fraction(frame * 65, 64)


def ip_efficiency(technology: Technology, ip_bytes: int = FULL_PACKET_IP_BYTES) -> Fraction:
    """IP bytes over line bytes for full-size packets: about 0.880 on ATM, 0.963 on PTM."""
    if technology is Technology.ADSL2_PLUS:
        return Fraction(ip_bytes, atm_line_bytes(ip_bytes))
    return Fraction(ip_bytes) / ptm_line_bytes(ip_bytes)


def ip_rate_kbps(sync_kbps: int, technology: Technology) -> int:
    """The IP rate a sync rate carries in full-size packets, before any offer cap."""
    return math.floor(sync_kbps * ip_efficiency(technology))


# --- The line as asked for -------------------------------------------------------------


def _parse_technology(value: object) -> Technology:
    if isinstance(value, Technology):
        return value
    if isinstance(value, str):
        try:
            return Technology(value.strip().lower())
        except ValueError:
            pass
    known = ", ".join(t.value for t in Technology)
    raise LineProfileError(f"unknown DSL technology {value!r}; expected one of: {known}")


def _check_length(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LineProfileError(f"{name} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise LineProfileError(f"{name} must be a finite number (got {value!r})")
    if value < 0:
        raise LineProfileError(f"{name} must be zero or more (got {value!r})")
    return float(value)


@dataclasses.dataclass(frozen=True, slots=True)
class LineProfile:
    """A subscriber line: the technology asked for and its attenuation or its length.

    Give exactly one of `attenuation_db` (downstream, at 300 kHz, the figure of an eligibility
    test) or `loop_length_m` (0.4 mm copper, converted at `DB_PER_KM_04MM`).

    >>> LineProfile(Technology.VDSL2, loop_length_m=800).line_attenuation_db
    12.0
    """

    technology: Technology
    attenuation_db: float | None = None
    loop_length_m: float | None = None
    tv_in_use: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "technology", _parse_technology(self.technology))
        if self.attenuation_db is None and self.loop_length_m is None:
            raise LineProfileError(
                "give the line's attenuation_db (at 300 kHz) or its loop_length_m: "
                "neither was given"
            )
        if self.attenuation_db is not None and self.loop_length_m is not None:
            raise LineProfileError(
                "give the line's attenuation_db or its loop_length_m, not both "
                f"(got {self.attenuation_db!r} dB and {self.loop_length_m!r} m)"
            )
        if self.attenuation_db is not None:
            _check_length("attenuation_db", self.attenuation_db)
        if self.loop_length_m is not None:
            _check_length("loop_length_m", self.loop_length_m)
        if not isinstance(self.tv_in_use, bool):
            raise LineProfileError(f"tv_in_use must be true or false (got {self.tv_in_use!r})")

    @property
    def line_attenuation_db(self) -> float:
        """Downstream attenuation at 300 kHz, given or computed from the length."""
        if self.attenuation_db is not None:
            return float(self.attenuation_db)
        assert self.loop_length_m is not None  # __post_init__ guarantees one of the two
        return float(self.loop_length_m) / 1000 * DB_PER_KM_04MM

    @property
    def line_length_m(self) -> float:
        """Loop length, given or estimated from the attenuation as if all 0.4 mm copper."""
        if self.loop_length_m is not None:
            return float(self.loop_length_m)
        return self.line_attenuation_db / DB_PER_KM_04MM * 1000


# --- Training: rates and margins -------------------------------------------------------


def interpolate(curve: Sequence[tuple[float, int]], attenuation_db: float) -> float:
    """A curve's rate at an attenuation: linear between points, flat beyond both ends."""
    first_db, first_rate = curve[0]
    if attenuation_db <= first_db:
        return float(first_rate)
    for (low_db, low_rate), (high_db, high_rate) in itertools.pairwise(curve):
        if attenuation_db <= high_db:
            share = (attenuation_db - low_db) / (high_db - low_db)
            return low_rate + (high_rate - low_rate) * share
    return float(curve[-1][1])


def _saturation_db(curve: Curve) -> float:
    # The longest line that still trains at the curve's top rate.
    top = curve[0][1]
    return max(db for db, rate in curve if rate == top)


@dataclasses.dataclass(frozen=True, slots=True)
class LineRates:
    """What a line trains at, and what internet gets of it under the offer."""

    requested: Technology
    technology: Technology
    fallback_reason: str | None
    attenuation_down_db: float
    attenuation_up_db: float
    sync_down_kbps: int
    sync_up_kbps: int
    max_down_kbps: int
    max_up_kbps: int
    margin_down_db: float
    margin_up_db: float
    #: IP rates after ATM/PTM overhead and the offer's caps, before any TV reduction.
    line_ip_down_kbps: int
    line_ip_up_kbps: int
    #: What internet gets: the line's IP rates, downstream limited while TV is watched.
    ip_down_kbps: int
    ip_up_kbps: int
    trainable: bool
    eligible: bool
    ineligible_reason: str | None


def offer_bounds(terms: InternetTerms, technology: Technology) -> DslBounds:
    """The offer's ceilings for a technology: `adsl` for ADSL2+, `vdsl` for VDSL2."""
    return terms.adsl if technology is Technology.ADSL2_PLUS else terms.vdsl


def line_rates(
    profile: LineProfile, terms: InternetTerms, *, rate_factor: float = 1.0
) -> LineRates:
    """Train a line: its sync, attainable and IP rates, margins, and eligibility to the offer.

    `rate_factor` (0 < f <= 1) scales the sync and attainable rates, as after a retrain to a
    lower rate; margins stay at target, the noise that forced the retrain having eaten the rest.

    TV (footnote 9): "L'utilisation simultanée de la TV numérique et de l'internet entraîne une
    réduction du débit (débit dédié jusqu'à 4 Mb/s)". Read: while TV is watched, the internet's
    dedicated downstream rate is at most `tv_dedicated_kbps`; "débit dédié" repeats the
    footnote's own "Débit internet dédié de 512 kb/s jusqu'à 50 Mb/s", and "jusqu'à" is a ceiling.
    Not read as "TV takes 4 Mb/s off the line's rate". Upstream is not reduced (TV is a
    downstream stream), and eligibility (the 512 kb/s floor) is judged on the line, without TV.
    """
    if not 0 < rate_factor <= 1:
        raise DslError(f"rate_factor must be above 0 and at most 1 (got {rate_factor!r})")
    attenuation = profile.line_attenuation_db
    technology = profile.technology
    fallback_reason = None
    if technology is Technology.VDSL2 and attenuation > VDSL2_REACH_DB:
        technology = Technology.ADSL2_PLUS
        fallback_reason = (
            f"VDSL2 reaches {VDSL2_REACH_DB:g} dB (1.5 km of 0.4 mm copper); this line has "
            f"{attenuation:g} dB, so it trains in ADSL2+"
        )
    flavour = _FLAVOURS[technology]
    sync_down = math.floor(interpolate(flavour.curve_down, attenuation) * rate_factor)
    sync_up = math.floor(interpolate(flavour.curve_up, attenuation) * rate_factor)
    trainable = sync_down > 0 and sync_up > 0
    if not trainable:
        sync_down = sync_up = 0
    bounds = offer_bounds(terms, technology)
    line_ip_down = min(ip_rate_kbps(sync_down, technology), bounds.max_down_kbps)
    line_ip_up = min(ip_rate_kbps(sync_up, technology), bounds.max_up_kbps)
    ip_down = min(line_ip_down, terms.tv_dedicated_kbps) if profile.tv_in_use else line_ip_down
    if not trainable:
        reason: str | None = f"no sync: a modem does not train on {attenuation:g} dB"
    elif line_ip_down < terms.min_down_kbps:
        reason = (
            f"{line_ip_down} kb/s IP downstream is below the offer's floor of "
            f"{terms.min_down_kbps} kb/s ({attenuation:g} dB in {technology.value})"
        )
    else:
        reason = None
    return LineRates(
        requested=profile.technology,
        technology=technology,
        fallback_reason=fallback_reason,
        attenuation_down_db=attenuation,
        attenuation_up_db=attenuation * flavour.up_attenuation_ratio,
        sync_down_kbps=sync_down,
        sync_up_kbps=sync_up,
        max_down_kbps=math.floor(sync_down * ATTAINABLE_OVER_SYNC),
        max_up_kbps=math.floor(sync_up * ATTAINABLE_OVER_SYNC),
        margin_down_db=_margin(flavour.curve_down, attenuation, rate_factor),
        margin_up_db=_margin(flavour.curve_up, attenuation, rate_factor),
        line_ip_down_kbps=line_ip_down,
        line_ip_up_kbps=line_ip_up,
        ip_down_kbps=ip_down,
        ip_up_kbps=line_ip_up,
        trainable=trainable,
        eligible=reason is None,
        ineligible_reason=reason,
    )


def _margin(curve: Curve, attenuation_db: float, rate_factor: float) -> float:
    if rate_factor < 1:
        return TARGET_MARGIN_DB
    return TARGET_MARGIN_DB + max(0.0, _saturation_db(curve) - attenuation_db)


# --- The line in service ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class IpRates:
    """IP rates internet gets now, in kb/s (0 when the line is not Up)."""

    down_kbps: int
    up_kbps: int


@dataclasses.dataclass(frozen=True, slots=True)
class OfferCheck:
    """Whether the line's present IP rates keep to the offer; `reasons` says why not."""

    within: bool
    down_kbps: int
    up_kbps: int
    reasons: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.within


#: One capture of `getDSLStats` on a Livebox 4 (VDSL2, 55 132 s since the last change) gives
#: the background error rates of a quiet line: (count, over seconds of showtime).
_CAPTURE_SHOWTIME_S: Final = 55_132
_BACKGROUND: Final[dict[str, int]] = {
    "FECErrors": 4_910_041,
    "ATUCFECErrors": 75_314,
    "CRCErrors": 1_174,
    "ATUCCRCErrors": 38,
    "ErroredSecs": 170,
    "SeverelyErroredSecs": 15,
}
#: ReceiveBlocks/TransmitBlocks count DMT data symbols: 4000 a second (4.3125 kHz tones, both
#: G.992.5 and G.993.2 17a), in each direction.
SYMBOLS_PER_S: Final = 4000
#: While the line is cut the modem keeps trying to train; each try times out after this long.
INIT_RETRY_S: Final = 30.0
#: A loss of sync is preceded by this many severely errored seconds (the noise burst that
#: causes it); G.992.3 calls a second severely errored from 18 CRC anomalies.
SYNC_LOSS_BURST_S: Final = 3
CRC_PER_SEVERE_SECOND: Final = 18

_STAT_NAMES: Final = (
    "ReceiveBlocks",
    "TransmitBlocks",
    "CellDelin",
    "LinkRetrain",
    "InitErrors",
    "InitTimeouts",
    "LossOfFraming",
    "ErroredSecs",
    "SeverelyErroredSecs",
    "FECErrors",
    "ATUCFECErrors",
    "HECErrors",
    "ATUCHECErrors",
    "CRCErrors",
    "ATUCCRCErrors",
)
_ATM_ONLY: Final = frozenset({"CellDelin", "HECErrors", "ATUCHECErrors"})


class DslLine:
    """The Livebox's `dsl0` line: trains from a `LineProfile` under an offer, takes faults.

    Time comes from the injected `clock` (its `monotonic()` for durations, `now()` for
    `last_change`): counters that grow with time (blocks, background FEC/CRC errors, errored
    seconds, init timeouts while cut) are computed from the showtime and cut time the clock
    has seen pass, so a lab jumps forward without sleeping. Training takes the technology's
    `training_s` (30 s ADSL2+, 60 s VDSL2), during which `status` is Initializing.

    A new line is Up at once (`trained=True`, the default) or starts training (`trained=False`,
    a box just powered on). A line whose modem cannot train at all starts Down.

    >>> line = DslLine(LineProfile("vdsl2", attenuation_db=5), terms, clock=clock)  # doctest: +SKIP
    >>> line.ip_rates()                                                            # doctest: +SKIP
    IpRates(down_kbps=50000, up_kbps=8000)
    """

    def __init__(
        self,
        profile: LineProfile,
        terms: InternetTerms,
        *,
        clock: Clock,
        name: str = "dsl0",
        trained: bool = True,
        firmware_version: str = DEFAULT_FIRMWARE,
    ) -> None:
        self._profile = profile
        self._terms = terms
        self._clock = clock
        self._name = name
        self._firmware = firmware_version
        self._rate_factor = 1.0
        self._rates = line_rates(profile, terms)
        start = clock.monotonic()
        self._powered_at = start
        self._changed_at = start
        self._events = dict.fromkeys(_STAT_NAMES, 0)
        self._showtime_banked_s = 0.0
        self._cut = False
        self._cut_since = 0.0
        self._cut_banked_s = 0.0
        # When showtime starts (in the future while training); None while the link is down.
        self._up_at: float | None = None
        # Whether the modem wants sync: after lose_sync() it waits for resync().
        self._wants_sync = True
        if not self._rates.trainable:
            self._events["InitErrors"] += 1
        elif trained:
            self._up_at = start
        else:
            self._up_at = start + self._training_s

    # --- what the line is ---

    @property
    def name(self) -> str:
        return self._name

    @property
    def profile(self) -> LineProfile:
        return self._profile

    @property
    def rates(self) -> LineRates:
        """What the line trains at now (lowered by any retrain), whatever its status."""
        return self._rates

    @property
    def technology(self) -> Technology:
        """The technology the line trained in (ADSL2+ after a VDSL2 fallback)."""
        return self._rates.technology

    @property
    def eligible(self) -> bool:
        """Whether the line as built meets the offer's floor (see `ineligible_reason`)."""
        return self._rates.eligible

    @property
    def ineligible_reason(self) -> str | None:
        return self._rates.ineligible_reason

    @property
    def fallback_reason(self) -> str | None:
        return self._rates.fallback_reason

    @property
    def status(self) -> LinkStatus:
        if self._up_at is None:
            return LinkStatus.DOWN
        if self._clock.monotonic() < self._up_at:
            return LinkStatus.INITIALIZING
        return LinkStatus.UP

    @property
    def last_change(self) -> dt.datetime:
        """When `status` last changed, on the clock's `now()` scale."""
        ago = self._clock.monotonic() - self._last_change_monotonic()
        return self._clock.now() - dt.timedelta(seconds=ago)

    @property
    def _training_s(self) -> float:
        return _FLAVOURS[self._rates.technology].training_s

    def _last_change_monotonic(self) -> float:
        now = self._clock.monotonic()
        # Training ends by itself: the change to Up happens when showtime starts.
        if self._up_at is not None and self._changed_at < self._up_at <= now:
            return self._up_at
        return self._changed_at

    # --- rates against the offer ---

    def ip_rates(self) -> IpRates:
        """Down/up IP kb/s after ATM/PTM overhead, the offer's caps and TV; 0 unless Up."""
        if self.status is not LinkStatus.UP:
            return IpRates(0, 0)
        return IpRates(self._rates.ip_down_kbps, self._rates.ip_up_kbps)

    def within_offer(self) -> OfferCheck:
        """Whether the present IP rates are within the offer's bounds and above its floor."""
        rates = self.ip_rates()
        status = self.status
        if status is not LinkStatus.UP:
            reasons: tuple[str, ...] = (f"{self._name} is {status.value}: no IP rate to check",)
            return OfferCheck(False, rates.down_kbps, rates.up_kbps, reasons)
        terms = self._terms
        bounds = offer_bounds(terms, self.technology)
        found: list[str] = []
        if rates.down_kbps < terms.min_down_kbps:
            found.append(
                f"downstream {rates.down_kbps} kb/s IP is below the offer's floor of "
                f"{terms.min_down_kbps} kb/s"
            )
        if rates.down_kbps > bounds.max_down_kbps:
            found.append(
                f"downstream {rates.down_kbps} kb/s IP is above the offer's "
                f"{bounds.max_down_kbps} kb/s on {self.technology.value}"
            )
        if rates.up_kbps > bounds.max_up_kbps:
            found.append(
                f"upstream {rates.up_kbps} kb/s IP is above the offer's "
                f"{bounds.max_up_kbps} kb/s on {self.technology.value}"
            )
        if self._profile.tv_in_use and rates.down_kbps > terms.tv_dedicated_kbps:
            found.append(
                f"downstream {rates.down_kbps} kb/s IP is above the {terms.tv_dedicated_kbps} "
                "kb/s dedicated to internet while TV is watched"
            )
        return OfferCheck(not found, rates.down_kbps, rates.up_kbps, tuple(found))

    # --- faults and repairs ---

    def lose_sync(self) -> None:
        """A noise burst drops the link: Down until `resync()`."""
        if self._up_at is None:
            raise LineStateError(f"{self._name} has no sync to lose: LinkStatus is Down")
        was_up = self.status is LinkStatus.UP
        self._go_down()
        self._wants_sync = False
        self._count("LossOfFraming")
        self._count("CellDelin")
        if was_up:
            self._count("ErroredSecs", SYNC_LOSS_BURST_S)
            self._count("SeverelyErroredSecs", SYNC_LOSS_BURST_S)
            self._count("CRCErrors", SYNC_LOSS_BURST_S * CRC_PER_SEVERE_SECOND)
            self._count("HECErrors", SYNC_LOSS_BURST_S)

    def resync(self) -> None:
        """The modem trains again; on a cut or untrainable line the try fails and counts."""
        if self._up_at is not None:
            raise LineStateError(
                f"{self._name} cannot resync: LinkStatus is {self.status.value}, not Down"
            )
        self._wants_sync = True
        if self._cut or not self._rates.trainable:
            self._count("InitErrors")
            return
        self._train()

    def retrain(self, *, lower_by_pct: float) -> None:
        """The line retrains at a rate lowered by `lower_by_pct` percent (noise has risen)."""
        if isinstance(lower_by_pct, bool) or not isinstance(lower_by_pct, int | float):
            raise DslError(f"lower_by_pct must be a number (got {lower_by_pct!r})")
        if not 0 < lower_by_pct < 100:
            raise DslError(f"lower_by_pct must be above 0 and below 100 (got {lower_by_pct!r})")
        if self.status is not LinkStatus.UP:
            raise LineStateError(
                f"{self._name} cannot retrain: LinkStatus is {self.status.value}, not Up"
            )
        self._go_down()
        self._rate_factor *= 1 - lower_by_pct / 100
        self._rates = line_rates(self._profile, self._terms, rate_factor=self._rate_factor)
        # The margin fell before the modem gave up on the old rate: one errored second.
        self._count("ErroredSecs")
        self._count("CRCErrors", CRC_PER_SEVERE_SECOND)
        if self._rates.trainable:
            self._train()
        else:
            self._count("InitErrors")

    def cut(self) -> None:
        """The copper is cut: Down, and the modem's tries time out until `restore()`."""
        if self._cut:
            raise LineStateError(f"{self._name} is already cut")
        if self._up_at is not None:
            was_up = self.status is LinkStatus.UP
            self._go_down()
            self._count("LossOfFraming")
            self._count("CellDelin")
            if was_up:
                self._count("ErroredSecs")
                self._count("SeverelyErroredSecs")
        self._cut = True
        self._cut_since = self._clock.monotonic()

    def restore(self) -> None:
        """The copper is repaired: the modem trains again unless it was waiting for `resync()`."""
        if not self._cut:
            raise LineStateError(f"{self._name} is not cut: nothing to restore")
        self._cut = False
        self._cut_banked_s += self._clock.monotonic() - self._cut_since
        if not self._wants_sync:
            return
        if self._rates.trainable:
            self._train()
        else:
            self._count("InitErrors")

    def _train(self) -> None:
        now = self._clock.monotonic()
        self._count("LinkRetrain")
        self._up_at = now + self._training_s
        self._changed_at = now

    def _go_down(self) -> None:
        self._showtime_banked_s += self._current_showtime_s()
        self._up_at = None
        self._changed_at = self._clock.monotonic()

    def _count(self, stat: str, by: int = 1) -> None:
        if stat in _ATM_ONLY and self.technology is not Technology.ADSL2_PLUS:
            return
        self._events[stat] += by

    def _current_showtime_s(self) -> float:
        if self._up_at is None:
            return 0.0
        return max(0.0, self._clock.monotonic() - self._up_at)

    # --- views shaped like the box's sysbus answers ---

    def mibs(self) -> dict[str, dict[str, dict[str, object]]]:
        """Like `NeMo.Intf.data getMIBs {"mibs":"dsl"}`: rates in kb/s; attenuation, margin and
        power in tenths of dB (dBm); LastChange in seconds since, LastChangeTime in seconds from
        power-on to the change. Rates, margins and power read 0 unless the link is Up."""
        up = self.status is LinkStatus.UP
        rates = self._rates
        flavour = _FLAVOURS[rates.technology]
        now = self._clock.monotonic()
        changed = self._last_change_monotonic()

        def tenths(value: float) -> int:
            return round(value * 10) if up else 0

        def kbps(value: int) -> int:
            return value if up else 0

        line: dict[str, object] = {
            "LastChangeTime": int(changed - self._powered_at),
            "LastChange": int(now - changed),
            "LinkStatus": self.status.value,
            "UpstreamCurrRate": kbps(rates.sync_up_kbps),
            "DownstreamCurrRate": kbps(rates.sync_down_kbps),
            "UpstreamMaxRate": kbps(rates.max_up_kbps),
            "DownstreamMaxRate": kbps(rates.max_down_kbps),
            "UpstreamNoiseMargin": tenths(rates.margin_up_db),
            "DownstreamNoiseMargin": tenths(rates.margin_down_db),
            "UpstreamAttenuation": tenths(rates.attenuation_up_db),
            "DownstreamAttenuation": tenths(rates.attenuation_down_db),
            "UpstreamPower": tenths(flavour.power_up_dbm),
            "DownstreamPower": tenths(flavour.power_down_dbm),
            "FirmwareVersion": self._firmware,
            "StandardsSupported": STANDARDS_SUPPORTED,
            "StandardUsed": flavour.standard if up else "",
            # Orange's profiles interleave; both captures report depth 0 all the same.
            "DataPath": "Interleaved",
            "InterleaveDepth": 0,
            "ModulationType": flavour.modulation if up else "",
            "ChannelEncapsulationType": flavour.encapsulation,
            # What the line was asked to train in: shows a VDSL2 line fallen back to ADSL2+.
            "ModulationHint": _FLAVOURS[rates.requested].modulation,
            "CurrentProfile": flavour.profile if up else "",
        }
        return {"dsl": {self._name: line}}

    def dsl_stats(self) -> dict[str, int]:
        """Like `NeMo.Intf.dsl0 getDSLStats`: counters since power-on, event counts plus what
        the showtime (and cut time) seen so far adds."""
        showtime = self._showtime_banked_s + self._current_showtime_s()
        cut_s = self._cut_banked_s
        if self._cut:
            cut_s += self._clock.monotonic() - self._cut_since
        stats = dict(self._events)
        blocks = int(showtime * SYMBOLS_PER_S)
        stats["ReceiveBlocks"] += blocks
        stats["TransmitBlocks"] += blocks
        for stat, count in _BACKGROUND.items():
            stats[stat] += int(count * showtime / _CAPTURE_SHOWTIME_S)
        stats["InitTimeouts"] += int(cut_s // INIT_RETRY_S)
        return stats
