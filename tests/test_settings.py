"""Settings from the environment: names, bounds and error messages."""

from __future__ import annotations

import pytest

from product_extractor.server.settings import Settings, SettingsError, load_settings
from product_extractor.web.limits import RateLimit


def test_defaults_match_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LISTING_CONCURRENCY", "SMALL_LISTING_CONCURRENCY", "SMALL_LISTING_MAX", "LOG_LEVEL"):
        monkeypatch.delenv(f"PRODUCT_EXTRACTOR_{name}", raising=False)
    settings = load_settings()
    assert settings.listing_concurrency == 10
    assert settings.small_listing_concurrency == 5
    assert settings.small_listing_max == 10
    assert settings.max_page_bytes == 10 * 1024 * 1024
    assert settings.max_redirects == 5


def test_lower_case_log_level_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


def test_environment_overrides_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_LISTING_CONCURRENCY", "20")
    options = load_settings().fan_out_options()
    assert options.listing_concurrency == 20


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRODUCT_EXTRACTOR_LISTING_CONCURRENCY", "abc"),
        ("PRODUCT_EXTRACTOR_SMALL_LISTING_CONCURRENCY", "0"),
        ("PRODUCT_EXTRACTOR_REQUEST_TIMEOUT_S", "-1"),
        ("PRODUCT_EXTRACTOR_LOG_LEVEL", "loud"),
    ],
)
def test_invalid_setting_names_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_token_means_no_token(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", blank)
    monkeypatch.delenv("PRODUCT_EXTRACTOR_BACKEND", raising=False)
    settings = load_settings()
    assert settings.brightdata_api_token is None
    assert settings.default_backend() == "direct"


def test_retry_and_limit_defaults() -> None:
    # The test session sets some of these in the environment, so the declared defaults are read.
    fields = Settings.model_fields
    assert fields["retry_attempts"].default == 3
    assert fields["max_in_flight"].default == 64
    assert fields["max_per_host"].default == 4
    assert fields["brightdata_rate_limit"].default == "1000/1m"
    assert RateLimit.parse(fields["brightdata_rate_limit"].default) == RateLimit(1000, 60.0)


def test_retry_settings_build_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_RETRY_ATTEMPTS", "5")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_RETRY_WAIT_INITIAL_S", "0.25")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_RETRY_AFTER_MAX_S", "20")
    policy = load_settings().retry_policy()
    assert policy.attempts == 5
    assert policy.wait_initial_s == 0.25
    assert policy.max_retry_after_s == 20.0


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("PRODUCT_EXTRACTOR_BRIGHTDATA_RATE_LIMIT", "100", "write requests per period"),
        ("PRODUCT_EXTRACTOR_BRIGHTDATA_RATE_LIMIT", "100/1d", "with the unit s, m or h"),
        ("PRODUCT_EXTRACTOR_BRIGHTDATA_RATE_LIMIT", "0/1m", "must be above 0"),
        ("PRODUCT_EXTRACTOR_RETRY_ATTEMPTS", "0", "greater than or equal to 1"),
        ("PRODUCT_EXTRACTOR_MAX_PER_HOST", "0", "greater than or equal to 1"),
        ("PRODUCT_EXTRACTOR_MAX_IN_FLIGHT", "many", "valid integer"),
    ],
)
def test_invalid_limit_names_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"- {variable}:" in message
    assert reason in message
    assert repr(value) in message
