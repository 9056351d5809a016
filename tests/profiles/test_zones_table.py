"""Checks the country-to-zone table assumed for the Optimale pro international price annex."""

import re
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
import yaml

ZONES_FILE = Path(__file__).parents[2] / "profiles/data/zones.yaml"

ZONES = {
    "europe-near-north-america",
    "maghreb",
    "rest-europe-north-america",
    "africa-oceania",
    "central-america",
    "south-america",
    "asia1-russia-australia-nz",
    "asia2-rest-oceania",
}

# Priced by the annex in its own DOM/TOM rows, so never an international zone.
FRENCH_REGIONS = {"FR", "GP", "GF", "MQ", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF"}

INTERNATIONAL_REGIONS = set(phonenumbers.SUPPORTED_REGIONS) - FRENCH_REGIONS

REGION_LINE = re.compile(r'^  "?([A-Z]{2})"?: \{.*\}\s+# \S.*$')


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    loaded = yaml.safe_load(ZONES_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def regions(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    loaded = table["regions"]
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def prefixes(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    loaded = table["prefixes"]
    assert isinstance(loaded, dict)
    return loaded


def test_file_has_only_note_regions_and_prefixes(table: dict[str, Any]) -> None:
    assert set(table) == {"note", "regions", "prefixes"}


def test_file_says_up_front_that_the_table_is_an_assumption(table: dict[str, Any]) -> None:
    first_line = ZONES_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("#")
    note = table["note"]
    assert isinstance(note, str)
    assert "assumption" in note
    assert "table of their own" in note


def test_every_international_region_is_assigned(regions: dict[str, Any]) -> None:
    assert sorted(INTERNATIONAL_REGIONS - set(regions)) == []


def test_french_regions_priced_as_dom_tom_are_absent(regions: dict[str, Any]) -> None:
    assert sorted(FRENCH_REGIONS & set(regions)) == []


def test_no_unknown_region_code(regions: dict[str, Any]) -> None:
    assert sorted(set(regions) - set(phonenumbers.SUPPORTED_REGIONS)) == []


def test_regions_are_sorted_one_per_line_with_a_country_name() -> None:
    lines = ZONES_FILE.read_text(encoding="utf-8").splitlines()
    start = lines.index("regions:") + 1
    end = lines.index("prefixes:")
    codes = []
    for line in lines[start:end]:
        match = REGION_LINE.match(line)
        assert match, f"malformed region line: {line!r}"
        codes.append(match.group(1))
    # Counting the lines also catches a duplicated key, which YAML would silently merge.
    assert codes == sorted(INTERNATIONAL_REGIONS)


def test_norway_is_a_region_code_not_yaml_false(regions: dict[str, dict[str, Any]]) -> None:
    # A bare NO key is read as the boolean false by YAML 1.1 loaders such as PyYAML.
    assert all(isinstance(code, str) for code in regions)
    assert regions["NO"]["zone"] == "europe-near-north-america"


def test_every_region_has_exactly_a_zone_and_a_mobile_agreement(
    regions: dict[str, dict[str, Any]],
) -> None:
    for code, entry in regions.items():
        assert set(entry) == {"zone", "mobile_agreement"}, code
        assert entry["zone"] in ZONES, code
        assert isinstance(entry["mobile_agreement"], bool), code


def test_every_zone_of_the_annex_has_countries(regions: dict[str, dict[str, Any]]) -> None:
    assert {entry["zone"] for entry in regions.values()} == ZONES


@pytest.mark.parametrize(
    ("region", "zone"),
    [
        ("DE", "europe-near-north-america"),
        ("GB", "europe-near-north-america"),
        ("CH", "europe-near-north-america"),
        ("US", "europe-near-north-america"),
        ("CA", "europe-near-north-america"),
        ("PL", "rest-europe-north-america"),
        ("TR", "rest-europe-north-america"),
        ("PR", "rest-europe-north-america"),
        ("GU", "rest-europe-north-america"),
        ("BM", "rest-europe-north-america"),
        ("MA", "maghreb"),
        ("DZ", "maghreb"),
        ("TN", "maghreb"),
        ("EH", "maghreb"),
        ("LY", "africa-oceania"),
        ("SN", "africa-oceania"),
        ("MX", "central-america"),
        ("JM", "central-america"),
        ("BR", "south-america"),
        ("RU", "asia1-russia-australia-nz"),
        ("KZ", "asia1-russia-australia-nz"),
        ("JP", "asia1-russia-australia-nz"),
        ("AU", "asia1-russia-australia-nz"),
        ("NZ", "asia1-russia-australia-nz"),
        ("IL", "asia2-rest-oceania"),
        ("VN", "asia2-rest-oceania"),
        ("FJ", "asia2-rest-oceania"),
    ],
)
def test_spot_check_zone(regions: dict[str, dict[str, Any]], region: str, zone: str) -> None:
    assert regions[region]["zone"] == zone


@pytest.mark.parametrize(
    ("region", "mobile_agreement"),
    [
        ("DE", True),
        ("PL", True),
        ("CH", True),
        ("JE", True),
        ("US", True),
        ("MA", True),
        ("IL", True),
        ("DZ", False),
        ("SN", False),
        ("VN", False),
    ],
)
def test_spot_check_mobile_agreement(
    regions: dict[str, dict[str, Any]], region: str, mobile_agreement: bool
) -> None:
    assert regions[region]["mobile_agreement"] is mobile_agreement


def test_hawaii_and_alaska_leave_the_near_zone(prefixes: dict[str, dict[str, Any]]) -> None:
    assert prefixes == {
        "1808": {"zone": "rest-europe-north-america", "name": "Hawaii"},
        "1907": {"zone": "rest-europe-north-america", "name": "Alaska"},
    }


def test_prefixes_are_digits_inside_a_supported_country_code(
    prefixes: dict[str, dict[str, Any]],
) -> None:
    for prefix, entry in prefixes.items():
        assert prefix.isdigit(), prefix
        assert set(entry) == {"zone", "name"}, prefix
        assert entry["zone"] in ZONES, prefix
        assert any(
            prefix.startswith(str(code)) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE
        ), prefix
