"""Settings from the environment: names, bounds and error messages."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

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


@pytest.mark.parametrize(("cores", "expected"), [(None, 1), (1, 1), (2, 2), (4, 4), (32, 4)])
def test_parse_processes_default_per_core(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, expected: int
) -> None:
    monkeypatch.delenv("PRODUCT_EXTRACTOR_PARSE_PROCESSES", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert load_settings().parse_processes == expected


def test_parse_processes_zero_means_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_PARSE_PROCESSES", "0")
    settings = load_settings()
    assert settings.parse_processes == 0
    assert settings.fan_out_options().parse_processes == 0


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


TOKEN_VARIABLES = ("BRIGHTDATA_API_TOKEN", "PRODUCT_EXTRACTOR_BRIGHTDATA_API_TOKEN")


@pytest.mark.parametrize("backend", ["brightdata", "auto"])
@pytest.mark.parametrize("token", [None, ""])
def test_paid_backend_needs_token(monkeypatch: pytest.MonkeyPatch, backend: str, token: str | None) -> None:
    for name in TOKEN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if token is not None:
        monkeypatch.setenv("BRIGHTDATA_API_TOKEN", token)
    monkeypatch.setenv("PRODUCT_EXTRACTOR_BACKEND", backend)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"- PRODUCT_EXTRACTOR_BACKEND: {backend!r} needs a Bright Data API token" in message
    assert "Set BRIGHTDATA_API_TOKEN" in message
    assert "'direct'" in message


@pytest.mark.parametrize("backend", ["brightdata", "auto"])
def test_paid_backend_with_token_loads(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv("BRIGHTDATA_API_TOKEN", "settings-test-token")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_BACKEND", backend)
    assert load_settings().default_backend() == backend


def test_direct_backend_needs_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TOKEN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRODUCT_EXTRACTOR_BACKEND", "direct")
    assert load_settings().default_backend() == "direct"


def settings_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "product_extractor.server.settings" and record.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("PRODUCT_EXTRACTOR_ALLOW_HOST", "PRODUCT_EXTRACTOR_ALLOW_HOSTS"),
        ("PRODUCT_EXTRACTOR_MAX_URLS", "PRODUCT_EXTRACTOR_MAX_URLS_PER_CALL"),
        ("product_extractor_log_levl", "PRODUCT_EXTRACTOR_LOG_LEVEL"),
    ],
)
def test_misspelled_variable_warns_with_guess(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str, meant: str
) -> None:
    monkeypatch.setenv(variable, "value-not-logged")
    load_settings()
    warnings = settings_warnings(caplog)
    assert warnings == [f"{variable} is not a setting and is ignored; did you mean {meant}?"]
    assert "value-not-logged" not in caplog.text


def test_unknown_variable_warns_without_guess(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_FROBNICATE", "1")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_QUUX", "1")
    load_settings()
    assert settings_warnings(caplog) == [
        "PRODUCT_EXTRACTOR_FROBNICATE is not a setting and is ignored; README.md lists the settings",
        "PRODUCT_EXTRACTOR_QUUX is not a setting and is ignored; README.md lists the settings",
    ]


def test_known_variables_give_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PRODUCT_EXTRACTOR_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("product_extractor_batch_size", "20")  # read case-insensitively
    monkeypatch.setenv("PRODUCT_EXTRACTOR_BRIGHTDATA_API_TOKEN", "")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_CORPUS", "/nowhere")  # read by the demo and the tests
    settings = load_settings()
    assert settings_warnings(caplog) == []
    assert settings.batch_size == 20


def run_serve(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `product-extractor serve` over stdio with no input, so it exits once it has started."""
    return subprocess.run(
        [sys.executable, "-m", "product_extractor.server", "serve"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )


def environment_without_token() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in TOKEN_VARIABLES}


def test_serve_warns_on_stderr_and_starts() -> None:
    completed = run_serve({**environment_without_token(), "PRODUCT_EXTRACTOR_ALLOW_HOST": "127.0.0.1"})
    assert completed.returncode == 0, completed.stderr
    assert "PRODUCT_EXTRACTOR_ALLOW_HOST is not a setting" in completed.stderr
    assert "did you mean PRODUCT_EXTRACTOR_ALLOW_HOSTS?" in completed.stderr
    assert completed.stdout == ""


def test_serve_without_token_exits() -> None:
    completed = run_serve({**environment_without_token(), "PRODUCT_EXTRACTOR_BACKEND": "brightdata"})
    assert completed.returncode == 2
    assert "PRODUCT_EXTRACTOR_BACKEND" in completed.stderr
    assert "BRIGHTDATA_API_TOKEN" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
