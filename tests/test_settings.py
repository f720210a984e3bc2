"""Settings from the environment: names, bounds and error messages."""

from __future__ import annotations

import pytest

from product_extractor.server.settings import SettingsError, load_settings


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
