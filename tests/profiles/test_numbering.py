"""The numbering plan classifies dialled numbers like phonenumbers does, region and kind alike."""

from __future__ import annotations

import dataclasses
import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberType

from profiles import numbering
from profiles.numbering import (
    EMERGENCY_NUMBERS,
    OVERSEAS_ROUTES,
    DialledNumber,
    NumberingError,
    NumberingPlan,
    NumberKind,
)

# The kinds the project reads into phonenumbers' types, written out again independently.
_KIND = {
    PhoneNumberType.FIXED_LINE: NumberKind.FIXED,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED,
    PhoneNumberType.MOBILE: NumberKind.MOBILE,
    PhoneNumberType.PAGER: NumberKind.MOBILE,
    PhoneNumberType.VOIP: NumberKind.FIXED,
    PhoneNumberType.TOLL_FREE: NumberKind.SPECIAL,
    PhoneNumberType.PREMIUM_RATE: NumberKind.SPECIAL,
    PhoneNumberType.SHARED_COST: NumberKind.SPECIAL,
    PhoneNumberType.PERSONAL_NUMBER: NumberKind.SPECIAL,
    PhoneNumberType.UAN: NumberKind.SPECIAL,
    PhoneNumberType.VOICEMAIL: NumberKind.SPECIAL,
}
_TYPES = tuple(_KIND)
_MOROCCAN_REDUCED_MOBILITY = (
    "212526",
    "212527",
    "212533",
    "212534",
    "212546",
    "212547",
    "212550",
    "212553",
)
_OFFER_OVERRIDES = {
    **dict.fromkeys(_MOROCCAN_REDUCED_MOBILITY, NumberKind.MOBILE),
    "44870": NumberKind.SPECIAL,
    "44871": NumberKind.SPECIAL,
}


@pytest.fixture(scope="module")
def plan() -> NumberingPlan:
    return NumberingPlan()


@pytest.fixture(scope="module")
def offer_plan() -> NumberingPlan:
    return NumberingPlan(_OFFER_OVERRIDES)


def phone_number(code: int, national: str) -> PhoneNumber:
    zeros = len(national) - len(national.lstrip("0") or "0")
    return PhoneNumber(
        country_code=code,
        national_number=int(national),
        italian_leading_zero=True if zeros else None,
        number_of_leading_zeros=zeros if zeros > 1 else None,
    )


def example_of(region: str, number_type: int) -> PhoneNumber:
    example = phonenumbers.example_number_for_type(region, number_type)
    assert example is not None, (region, number_type)
    return example


def code_of(number: PhoneNumber) -> int:
    assert number.country_code is not None
    return number.country_code


def national_of(number: PhoneNumber) -> str:
    return str(phonenumbers.national_significant_number(number))


def e164(number: PhoneNumber) -> str:
    return f"+{number.country_code}{national_of(number)}"


def expected(number: PhoneNumber) -> tuple[NumberKind, str]:
    """What phonenumbers says of a valid number, in the project's kinds."""
    region = phonenumbers.region_code_for_number(number)
    assert region is not None
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.VOIP and region == "FR":
        return NumberKind.IP, region
    return _KIND[number_type], region


def classified(plan: NumberingPlan, dialled: str) -> tuple[NumberKind, str]:
    number = plan.classify(dialled)
    return number.kind, number.region


def example_numbers(regions: list[str] | None = None) -> list[PhoneNumber]:
    examples = []
    for region in sorted(regions or phonenumbers.SUPPORTED_REGIONS):
        for number_type in _TYPES:
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None:
                examples.append(example)
    if regions is None:
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
            example = phonenumbers.example_number_for_non_geo_entity(code)
            if example is not None:
                examples.append(example)
    return examples


def mutated_valid_numbers(
    example: PhoneNumber, rng: random.Random, count: int, tries: int
) -> list[PhoneNumber]:
    """Numbers near an example (some digits redrawn) that phonenumbers says are valid."""
    national = national_of(example)
    found = [example]
    for _ in range(tries):
        digits = list(national)
        positions = rng.sample(range(len(digits)), rng.randint(1, min(4, len(digits))))
        for position in positions:
            digits[position] = rng.choice("0123456789")
        candidate = phone_number(code_of(example), "".join(digits))
        if phonenumbers.is_valid_number(candidate):
            found.append(candidate)
            if len(found) > count:
                break
    return found


def valid_national_numbers(code: int, prefix: str, wanted: int = 5) -> list[str]:
    """Valid 9-digit national numbers of an overseas code starting with a national prefix."""
    found = []
    for middle in range(100):
        national = (prefix + str(middle).zfill(2) + "0123456789")[:9]
        if phonenumbers.is_valid_number(phone_number(code, national)):
            found.append(national)
            if len(found) == wanted:
                break
    return found


# --- Metropolitan France, national and international forms -----------------------------------


def test_paris_number_in_national_form_is_metropolitan_fixed(plan: NumberingPlan) -> None:
    assert plan.classify("01 23 45 67 89") == DialledNumber(
        "01 23 45 67 89", "+33123456789", NumberKind.FIXED, "FR"
    )


@pytest.mark.parametrize(
    "dialled",
    [
        "0123456789",
        "01.23.45.67.89",
        "01-23-45-67-89",
        "(01) 23 45 67 89",
        "+33 1 23 45 67 89",
        "+33123456789",
        "0033123456789",
        "00 33 1 23 45 67 89",
        "+33 (0)1 23 45 67 89",
        "+33 0 1 23 45 67 89",
        " 0123456789",
        "\t01 23 45 67 89 ",
        " +33123456789",
        "+33\u00a01\u00a023\u00a045\u00a067\u00a089",
    ],
)
def test_every_written_form_of_one_number_gives_its_e164_form(
    plan: NumberingPlan, dialled: str
) -> None:
    number = plan.classify(dialled)
    assert (number.dialled, number.number, number.kind, number.region) == (
        dialled,
        "+33123456789",
        NumberKind.FIXED,
        "FR",
    )


def test_06_and_07_numbers_are_metropolitan_mobiles(plan: NumberingPlan) -> None:
    assert classified(plan, "06 12 34 56 78") == (NumberKind.MOBILE, "FR")
    assert classified(plan, "07 81 23 45 67") == (NumberKind.MOBILE, "FR")


def test_09_numbers_are_the_offers_ip_numbers(plan: NumberingPlan) -> None:
    assert classified(plan, "09 12 34 56 78") == (NumberKind.IP, "FR")
    assert classified(plan, "+33 9 72 34 56 78") == (NumberKind.IP, "FR")


@pytest.mark.parametrize(
    "dialled", ["0800 12 34 56", "0891 12 34 56", "0810 12 34 56", "0806 12 34 56"]
)
def test_08_toll_free_premium_shared_cost_and_uan_numbers_are_special(
    plan: NumberingPlan, dialled: str
) -> None:
    assert classified(plan, dialled) == (NumberKind.SPECIAL, "FR")


def test_trunk_zero_after_a_country_code_is_dropped_when_the_number_needs_it(
    plan: NumberingPlan,
) -> None:
    assert plan.classify("+44 (0)20 7946 0958").number == "+442079460958"
    assert plan.classify("0044 0 20 7946 0958").number == "+442079460958"


def test_italian_leading_zero_belongs_to_the_number_and_is_kept(plan: NumberingPlan) -> None:
    rome = plan.classify("+39 06 1234 5678")
    assert (rome.number, rome.kind, rome.region) == ("+390612345678", NumberKind.FIXED, "IT")


def test_result_is_an_ordinary_frozen_dialled_number(plan: NumberingPlan) -> None:
    fast = plan.classify("0123456789")
    built = DialledNumber("0123456789", "+33123456789", NumberKind.FIXED, "FR")
    assert fast == built
    assert hash(fast) == hash(built)
    assert type(fast) is DialledNumber
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.kind = NumberKind.MOBILE  # type: ignore[misc]


# --- Overseas departments dialled nationally, territories dialled internationally ------------


def test_0590_is_guadeloupe_not_metropolitan_france(plan: NumberingPlan) -> None:
    assert plan.classify("0590 20 12 34") == DialledNumber(
        "0590 20 12 34", "+590590201234", NumberKind.FIXED, "GP"
    )


def test_saint_barthelemy_and_saint_martin_ranges_of_0590_keep_their_regions(
    plan: NumberingPlan,
) -> None:
    assert classified(plan, "0590 27 12 34") == (NumberKind.FIXED, "BL")
    assert classified(plan, "0590 07 12 34") == (NumberKind.FIXED, "MF")


def test_0262_and_0692_are_reunion_0269_and_0639_are_mayotte(plan: NumberingPlan) -> None:
    assert classified(plan, "0262 16 12 34") == (NumberKind.FIXED, "RE")
    assert classified(plan, "0692 12 34 56") == (NumberKind.MOBILE, "RE")
    assert classified(plan, "0269 60 12 34") == (NumberKind.FIXED, "YT")
    assert classified(plan, "0639 01 23 45") == (NumberKind.MOBILE, "YT")


def test_0594_and_0694_are_guyane_0596_and_0696_are_martinique(plan: NumberingPlan) -> None:
    assert classified(plan, "0594 10 12 34") == (NumberKind.FIXED, "GF")
    assert classified(plan, "0694 20 12 34") == (NumberKind.MOBILE, "GF")
    assert classified(plan, "0596 30 12 34") == (NumberKind.FIXED, "MQ")
    assert classified(plan, "0696 20 12 34") == (NumberKind.MOBILE, "MQ")


@pytest.mark.parametrize(("prefix", "code"), sorted(OVERSEAS_ROUTES.items()))
def test_overseas_prefix_dialled_nationally_is_classified_by_its_overseas_code(
    plan: NumberingPlan, prefix: str, code: str
) -> None:
    nationals = valid_national_numbers(int(code), prefix)
    if not nationals:
        # A routed block with no number allocated yet: refused, never taken for France.
        assert len(prefix) == 5, "every 3-digit overseas prefix has numbers"
        with pytest.raises(NumberingError, match="no number starts with 0709"):
            plan.classify("0" + prefix + "0" * (9 - len(prefix)))
        return
    for national in nationals:
        number = plan.classify("0" + national)
        assert number.number == f"+{code}{national}"
        assert (number.kind, number.region) == expected(phone_number(int(code), national))
        assert number.region != "FR"


def test_0263_numbers_reunion_has_not_allocated_are_refused_not_taken_for_france(
    plan: NumberingPlan,
) -> None:
    # phonenumbers files +33 263 under metropolitan fixed lines, but 0263 is dialled to Réunion.
    with pytest.raises(NumberingError, match=r"no number starts with 02632"):
        plan.classify("0263 20 12 34")
    assert classified(plan, "0263 10 12 34") == (NumberKind.FIXED, "RE")


def test_overseas_routing_is_for_national_dialling_only(plan: NumberingPlan) -> None:
    assert classified(plan, "+33 2 63 20 12 34") == (NumberKind.FIXED, "FR")
    with pytest.raises(NumberingError, match=r"no number starts with \+33 590"):
        plan.classify("+33 590 20 12 34")


def test_overseas_voip_is_rated_as_fixed_not_as_the_offers_ip(plan: NumberingPlan) -> None:
    assert classified(plan, "+590 976 01 23 45") == (NumberKind.FIXED, "GP")


@pytest.mark.parametrize("region", ["PM", "NC", "PF", "WF"])
def test_pacific_territories_and_saint_pierre_are_dialled_internationally(
    plan: NumberingPlan, region: str
) -> None:
    for number_type in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
        example = example_of(region, number_type)
        assert classified(plan, e164(example)) == (_KIND[number_type], region)


# --- Short numbers -------------------------------------------------------------------------


@pytest.mark.parametrize("digits", sorted(EMERGENCY_NUMBERS))
def test_emergency_numbers_of_the_offer(plan: NumberingPlan, digits: str) -> None:
    assert plan.classify(digits) == DialledNumber(digits, digits, NumberKind.EMERGENCY, "FR")


@pytest.mark.parametrize("digits", ["1015", "1016", "3901", "3000", "110", "116117"])
def test_orange_service_and_other_short_numbers_are_short(plan: NumberingPlan, digits: str) -> None:
    assert plan.classify(digits) == DialledNumber(digits, digits, NumberKind.SHORT, "FR")


def test_directory_enquiries_118_are_special(plan: NumberingPlan) -> None:
    assert classified(plan, "118 712") == (NumberKind.SPECIAL, "FR")
    assert plan.classify("118 712").number == "118712"


def test_short_numbers_are_those_of_phonenumbers_french_short_number_metadata(
    plan: NumberingPlan,
) -> None:
    rng = random.Random(3)
    candidates = [str(n) for n in range(10, 10_000)] + [
        str(rng.randrange(10_000, 1_000_000)) for _ in range(3_000)
    ]
    for digits in candidates:
        short = phonenumbers.PhoneNumber(country_code=33, national_number=int(digits))
        valid = phonenumbers.is_valid_short_number_for_region(short, "FR")
        try:
            plan.classify(digits)
        except NumberingError:
            assert not valid, digits
        else:
            assert valid or digits in EMERGENCY_NUMBERS, digits


# --- Kinds forced by the offer's data files ------------------------------------------------


@pytest.mark.parametrize("prefix", _MOROCCAN_REDUCED_MOBILITY)
def test_moroccan_reduced_mobility_prefix_forced_to_mobile(
    plan: NumberingPlan, offer_plan: NumberingPlan, prefix: str
) -> None:
    dialled = f"+{prefix}000000"[:13]
    assert classified(plan, dialled) == (NumberKind.FIXED, "MA")
    assert classified(offer_plan, dialled) == (NumberKind.MOBILE, "MA")


def test_other_moroccan_fixed_lines_keep_their_kind(offer_plan: NumberingPlan) -> None:
    assert classified(offer_plan, "+212 528 81 23 45") == (NumberKind.FIXED, "MA")


def test_british_premium_44870_and_44871_forced_to_special(offer_plan: NumberingPlan) -> None:
    assert classified(offer_plan, "+44 870 123 4567") == (NumberKind.SPECIAL, "GB")
    assert classified(offer_plan, "+44 871 123 4567") == (NumberKind.SPECIAL, "GB")
    assert classified(offer_plan, "+44 20 7946 0958") == (NumberKind.FIXED, "GB")


def test_longest_override_prefix_wins() -> None:
    plan = NumberingPlan({"4": NumberKind.SPECIAL, "44": NumberKind.MOBILE, "4420": NumberKind.IP})
    assert classified(plan, "+44 20 7946 0958") == (NumberKind.IP, "GB")
    assert classified(plan, "+44 121 234 5678") == (NumberKind.MOBILE, "GB")
    assert classified(plan, "+49 30 123456") == (NumberKind.SPECIAL, "DE")
    assert classified(plan, "+33 1 23 45 67 89") == (NumberKind.FIXED, "FR")


def test_override_applies_to_overseas_numbers_dialled_nationally() -> None:
    plan = NumberingPlan({"590690": NumberKind.SPECIAL})
    assert classified(plan, "0690 00 12 34") == (NumberKind.SPECIAL, "GP")
    assert classified(plan, "0590 20 12 34") == (NumberKind.FIXED, "GP")


def test_override_prefix_with_a_plus_is_refused() -> None:
    with pytest.raises(NumberingError, match=r"'\+44870': an E\.164 prefix is digits only"):
        NumberingPlan({"+44870": NumberKind.SPECIAL})


def test_override_to_an_unknown_kind_is_refused() -> None:
    with pytest.raises(NumberingError, match=r"'44870': 'premium' is not a number kind"):
        NumberingPlan({"44870": "premium"})  # type: ignore[dict-item]


# --- Agreement with phonenumbers, every region and type ------------------------------------


def test_agrees_with_phonenumbers_on_numbers_of_every_region_and_type(
    plan: NumberingPlan,
) -> None:
    rng = random.Random(2024)
    checked = set()
    for example in example_numbers():
        for number in mutated_valid_numbers(example, rng, count=4, tries=12):
            assert classified(plan, e164(number)) == expected(number), e164(number)
            checked.add(phonenumbers.region_code_for_number(number))
    assert len(checked) >= 240


_SHARED_CODES = {
    "nanp-plus-1": ["US", "CA", "AG", "BS", "DO", "JM", "PR", "VI", "GU", "TT"],
    "gb-guernsey-jersey-isle-of-man": ["GB", "GG", "JE", "IM"],
    "russia-kazakhstan": ["RU", "KZ"],
    "finland-aland": ["FI", "AX"],
    "australia-christmas-cocos": ["AU", "CX", "CC"],
    "italy-vatican": ["IT", "VA"],
    "morocco-western-sahara": ["MA", "EH"],
    "reunion-mayotte": ["RE", "YT"],
    "guadeloupe-saint-barthelemy-saint-martin": ["GP", "BL", "MF"],
    "norway-svalbard": ["NO", "SJ"],
}


@pytest.mark.parametrize("regions", list(_SHARED_CODES.values()), ids=list(_SHARED_CODES))
def test_regions_sharing_a_calling_code_are_told_apart(
    plan: NumberingPlan, regions: list[str]
) -> None:
    rng = random.Random(7)
    seen = set()
    for example in example_numbers(regions):
        for number in mutated_valid_numbers(example, rng, count=15, tries=40):
            assert classified(plan, e164(number)) == expected(number), e164(number)
            seen.add(expected(number)[1])
    assert set(regions) - seen <= {"EH"}


def test_western_sahara_numbers_come_out_as_morocco_as_phonenumbers_says(
    plan: NumberingPlan,
) -> None:
    # Morocco's leading digits [5-8] cover every +212 number, so phonenumbers never says EH.
    sahara = example_of("EH", PhoneNumberType.FIXED_LINE)
    assert phonenumbers.region_code_for_number(sahara) == "MA"
    assert classified(plan, e164(sahara)) == (NumberKind.FIXED, "MA")


def test_north_american_numbers_count_as_fixed(plan: NumberingPlan) -> None:
    # phonenumbers cannot tell US fixed lines from mobiles: FIXED_LINE_OR_MOBILE.
    assert classified(plan, "+1 201 555 0123") == (NumberKind.FIXED, "US")


def test_pagers_count_as_mobile(plan: NumberingPlan) -> None:
    pager = example_of("CH", PhoneNumberType.PAGER)
    assert classified(plan, e164(pager)) == (NumberKind.MOBILE, "CH")


def test_global_services_come_out_with_phonenumbers_world_region_001(
    plan: NumberingPlan,
) -> None:
    assert classified(plan, "+800 1234 5678") == (NumberKind.SPECIAL, "001")


_EXAMPLES = example_numbers()


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    example=st.sampled_from(_EXAMPLES),
    changes=st.lists(st.tuples(st.integers(0, 16), st.sampled_from("0123456789")), max_size=3),
    length_change=st.sampled_from([-1, 0, 0, 0, 1]),
)
def test_accepts_exactly_what_phonenumbers_says_is_valid(
    plan: NumberingPlan, example: PhoneNumber, changes: list[tuple[int, str]], length_change: int
) -> None:
    digits = list(national_of(example))
    for position, digit in changes:
        digits[position % len(digits)] = digit
    if length_change > 0:
        digits.append("5")
    elif length_change < 0 and len(digits) > 1:
        digits.pop()
    national = "".join(digits)
    number = phone_number(code_of(example), national)
    dialled = f"+{code_of(example)}{national}"
    if phonenumbers.is_valid_number(number):
        assert classified(plan, dialled) == expected(number)
        return
    try:
        accepted = plan.classify(dialled)
    except NumberingError:
        return
    # Only a trunk prefix written after the country code may turn an invalid string valid.
    assert accepted.number != dialled
    corrected = phonenumbers.parse(accepted.number)
    assert phonenumbers.is_valid_number(corrected)
    assert (accepted.kind, accepted.region) == expected(corrected)


# --- Tables: lazy, exact, and the slow path they leave to phonenumbers ---------------------


def test_tables_are_built_lazily_per_calling_code() -> None:
    plan = NumberingPlan()
    assert plan.built_codes == {"33", "590", "594", "596", "262"}
    plan.classify("+44 20 7946 0958")
    assert plan.built_codes == {"33", "590", "594", "596", "262", "44"}


def test_numbers_below_the_table_depth_are_parsed_by_phonenumbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(numbering, "_MAX_TABLE_DEPTH", 1)
    shallow = NumberingPlan({"44870": NumberKind.MOBILE})
    assert shallow.table_size("1") <= 10
    assert classified(shallow, "+1 201 555 0123") == (NumberKind.FIXED, "US")
    bahamas = example_of("BS", PhoneNumberType.MOBILE)
    assert classified(shallow, e164(bahamas)) == (NumberKind.MOBILE, "BS")
    assert classified(shallow, "+39 06 1234 5678") == (NumberKind.FIXED, "IT")
    assert classified(shallow, "+44 870 123 4567") == (NumberKind.MOBILE, "GB")
    with pytest.raises(NumberingError, match=r"'\+1 201 155 0123': \+1 2011550123 is not a valid"):
        shallow.classify("+1 201 155 0123")


def test_metadata_the_pattern_reader_cannot_read_sends_its_code_to_phonenumbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreadable(self: object) -> None:
        raise numbering._UnsupportedPatternError("pattern 'a*': unsupported syntax")

    monkeypatch.setattr(numbering._TableBuilder, "build", unreadable)
    fallback = NumberingPlan()
    assert classified(fallback, "01 23 45 67 89") == (NumberKind.FIXED, "FR")
    assert classified(fallback, "+7 712 345 6789") == (NumberKind.FIXED, "KZ")


@pytest.mark.parametrize("pattern", ["1(?:2[3-5]|9)\\d{2,4}", "8?[0-2]{2}(?:\\d{3})?", "5+6*7"])
def test_digit_automaton_reads_patterns_like_re(pattern: str) -> None:
    import re

    automaton = numbering._Automaton(pattern)
    rng = random.Random(5)
    for _ in range(2_000):
        digits = "".join(rng.choice("0125679") for _ in range(rng.randint(0, 9)))
        state = 0
        for digit in digits:
            state = automaton.row(state)[int(digit)]
            if state < 0:
                break
        accepted = state >= 0 and automaton.accepting[state]
        assert accepted == bool(re.fullmatch(pattern, digits)), digits


@pytest.mark.parametrize("pattern", ["a", "1[a-c]", "(?=1)2", "1{x}", "(12"])
def test_digit_automaton_refuses_syntax_it_does_not_know(pattern: str) -> None:
    with pytest.raises(numbering._UnsupportedPatternError, match="unsupported syntax"):
        numbering._Automaton(pattern)


# --- Garbage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialled", "why"),
    [
        ("", "empty number"),
        ("   ", "empty number"),
        ("01 23 AB 67 89", "a number has only digits, an optional leading '+' and separators"),
        ("+33 1 23 45 67 8#", "a number has only digits"),
        ("٠١٢٣٤٥٦٧٨٩", "a number has only digits"),  # Arabic-Indic digits
        ("+", "no number after the international prefix"),
        ("00", "no number after the international prefix"),
        ("+999 123 456", "no country has the calling code +9, +99, +999"),
        ("+33", "nothing after the country code +33"),
        ("012345678", "a French national number has 10 digits, not 9"),
        ("01234567890", "a French national number has 10 digits, not 11"),
        ("1", "a short number has 2 to 6 digits (not 1)"),
        ("33123456789", "a short number has 2 to 6 digits (not 11)"),
        ("99", "99 is not a French short number"),
        ("+33 1234", "too short for a number of FR starting with +33 1 (4 digits after +33"),
        ("+33 1 23 45 67 89 0", "too long for a number of FR starting with +33 1"),
        ("0701234567", "no number starts with 070 (prefix allocated to no type of number)"),
        ("+1 212 155 0123", "no number starts with +1 2121"),
        ("+20 15 1234567 890", "too long for a number of EG starting with +20 15"),
    ],
)
def test_garbage_is_refused_with_a_message_naming_the_number_and_why(
    plan: NumberingPlan, dialled: str, why: str
) -> None:
    with pytest.raises(NumberingError) as refused:
        plan.classify(dialled)
    assert str(refused.value).startswith(repr(dialled) + ": ")
    assert why in str(refused.value)


def test_numbering_error_is_a_value_error() -> None:
    assert issubclass(NumberingError, ValueError)
