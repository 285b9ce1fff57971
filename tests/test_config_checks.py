"""The tap's setting checks beyond JSON schema, called directly: one reason per wrong setting.

tests/test_cli.py runs a few of these through the command line; here each rule and its
boundary is pinned in process (fast enough for `make mutation`).
"""

from __future__ import annotations

import pendulum
import pytest

from pipedrive_api.errors import ConfigError
from tap_pipedrive.config import config_errors, credentials_errors, normalize_start_date

TOKEN = {"api_token": "t"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-01-31", "2024-01-31T00:00:00Z"),
        (" 2024-01-31 ", "2024-01-31T00:00:00Z"),
        ("2024-01-31T10:00:00", "2024-01-31T10:00:00Z"),
        ("2024-01-31T10:00:00+02:00", "2024-01-31T08:00:00Z"),
        ("20240131", "2024-01-31T00:00:00Z"),
        ("01/31/2024", "2024-01-31T00:00:00Z"),
        ("31/01/2024", "2024-01-31T00:00:00Z"),
        ("12/13/2024", "2024-12-13T00:00:00Z"),
        ("13/12/2024", "2024-12-13T00:00:00Z"),
        ("02/02/2024", "2024-02-02T00:00:00Z"),
        ("1/31/2024", "2024-01-31T00:00:00Z"),
    ],
)
def test_start_date_forms_become_rfc3339_utc(given, expected):
    assert normalize_start_date(given) == expected


def test_start_date_is_utc_whatever_the_machines_time_zone():
    with pendulum.test_local_timezone(pendulum.timezone("Asia/Tokyo")):
        assert normalize_start_date("2024-01-31T10:00:00+02:00") == "2024-01-31T08:00:00Z"
        assert normalize_start_date("01/31/2024") == "2024-01-31T00:00:00Z"


@pytest.mark.parametrize(
    ("given", "iso"),
    [("01/02/2024", "2024-01-02 or 2024-02-01"), ("12/11/2024", "2024-12-11 or 2024-11-12")],
)
def test_a_slashed_date_whose_order_is_ambiguous_is_refused_with_both_readings(given, iso):
    with pytest.raises(ConfigError) as raised:
        normalize_start_date(given)
    assert str(raised.value) == (
        f"`start_date` {given!r} is ambiguous (month/day or day/month?): write it as {iso}."
    )


@pytest.mark.parametrize(
    "given",
    [
        "10:00",
        "P1D",
        "2024-01-31/2024-02-01",
        "2024-02-30",
        "13/13/2024",
        "soon",
        "2024-1-31",
        "2024-01-31 10am",
    ],
)
def test_what_is_no_date_or_date_time_is_refused(given):
    with pytest.raises(ConfigError) as raised:
        normalize_start_date(given)
    assert str(raised.value) == (
        "`start_date` must be a date or date-time such as 2024-01-31, "
        f"2024-01-31T10:00:00+02:00 or 01/31/2024, not {given!r}."
    )


def test_an_api_token_is_enough_credentials():
    assert credentials_errors(TOKEN, "X") == []


def test_the_three_oauth_settings_are_enough_credentials():
    config = {"client_id": "i", "client_secret": "s", "refresh_token": "r"}
    assert credentials_errors(config, "X") == []


def test_two_oauth_settings_are_no_credentials_named_with_the_plugins_variable():
    config = {"client_id": "i", "client_secret": "s", "refresh_token": ""}
    assert credentials_errors(config, "TARGET_PIPEDRIVE") == [
        "No credentials: set `api_token` (TARGET_PIPEDRIVE_API_TOKEN), or all of "
        "`client_id`, `client_secret` and `refresh_token` for OAuth."
    ]


def test_a_valid_config_has_no_error():
    config = {
        **TOKEN,
        "start_date": "2024-01-31",
        "company_domain": "acme-2",
        "api_url": "https://proxy.example.com/pipedrive/",
        "max_tokens_per_run": 1,
        "max_concurrency": 1,
        "deletion_sweep_days": 0,
    }
    assert config_errors(config) == []


def test_the_tap_asks_for_its_own_credentials_variable():
    assert config_errors({}) == [
        "No credentials: set `api_token` (TAP_PIPEDRIVE_API_TOKEN), or all of "
        "`client_id`, `client_secret` and `refresh_token` for OAuth."
    ]


def test_an_invalid_start_date_is_one_error():
    assert config_errors({**TOKEN, "start_date": "soon"}) == [
        "`start_date` must be a date or date-time such as 2024-01-31, "
        "2024-01-31T10:00:00+02:00 or 01/31/2024, not 'soon'."
    ]


def test_an_empty_start_date_is_no_error():
    assert config_errors({**TOKEN, "start_date": ""}) == []


def test_a_company_domain_with_the_host_is_refused():
    assert config_errors({**TOKEN, "company_domain": "acme.pipedrive.com"}) == [
        "`company_domain` is the subdomain alone (`acme` for acme.pipedrive.com), "
        "not 'acme.pipedrive.com'."
    ]


@pytest.mark.parametrize(
    "api_url",
    [
        "https://acme.pipedrive.com/api/v2/",
        "https://acme.pipedrive.com/v1",
        "https://a.example/api",
    ],
)
def test_an_api_url_with_the_apis_path_is_refused(api_url):
    assert config_errors({**TOKEN, "api_url": api_url}) == [
        "`api_url` is the API root without its path (e.g. https://api.pipedrive.com or "
        "https://acme.pipedrive.com; the tap adds /api/v2 and /v1), "
        f"not {api_url!r}."
    ]


@pytest.mark.parametrize("name", ["max_tokens_per_run", "max_concurrency"])
def test_a_limit_below_one_is_refused(name):
    assert config_errors({**TOKEN, name: 0}) == [f"`{name}` must be at least 1, not 0."]


def test_a_negative_sweep_interval_is_refused():
    assert config_errors({**TOKEN, "deletion_sweep_days": -1}) == [
        "`deletion_sweep_days` must be 0 (every run) or more, not -1."
    ]


def test_an_http_api_url_is_refused_unless_local():
    assert config_errors({**TOKEN, "api_url": "http://127.0.0.1:8765"}) == []
    assert config_errors({**TOKEN, "api_url": "http://example.com"}) == [
        "'http://example.com' (settings `api_url` / `company_domain`) must be an https:// URL "
        "(plain http is allowed only for a loopback address)."
    ]


def test_an_http_oauth_url_is_refused():
    assert config_errors({**TOKEN, "oauth_url": "http://example.com/token"}) == [
        "'http://example.com/token' (settings `oauth_url`) must be an https:// URL "
        "(plain http is allowed only for a loopback address)."
    ]


@pytest.mark.parametrize(
    "wrong",
    [
        {"oauth_url": 5, "api_url": "http://example.com"},
        {"api_url": 5},
        {"company_domain": ["acme"]},
    ],
)
def test_a_url_setting_that_is_no_text_is_left_to_the_json_schema(wrong):
    assert config_errors({**TOKEN, **wrong}) == []


def test_a_company_domain_in_capitals_is_accepted():
    assert config_errors({**TOKEN, "company_domain": "Acme"}) == []


def test_every_wrong_setting_is_reported_in_order_with_the_url_last():
    config = {
        "start_date": "soon",
        "company_domain": "a.b",
        "max_concurrency": 0,
        "deletion_sweep_days": -2,
        "oauth_url": "http://example.com/token",
    }
    assert [error.split(" ")[0] for error in config_errors(config)] == [
        "No",
        "`start_date`",
        "`company_domain`",
        "`max_concurrency`",
        "`deletion_sweep_days`",
        "'http://example.com/token'",
    ]
