"""Shared fixtures: where the saved real pages are, and skipping when they are absent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from product_extractor.server.settings import Settings
from product_extractor.web.url_safety import AllowList, UrlPolicy

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_corpus() -> Path | None:
    """Return the saved-pages corpus folder, or None when this checkout has none beside it.

    `PRODUCT_EXTRACTOR_CORPUS` overrides the default, which is ../shared/corpus
    next to the repository.
    """
    configured = os.environ.get("PRODUCT_EXTRACTOR_CORPUS")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "corpus"
    return candidate if (candidate / "index.jsonl").is_file() else None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus folder; tests that use it skip with the reason when it is absent."""
    found = find_corpus()
    if found is None:
        pytest.skip("../shared/corpus (or $PRODUCT_EXTRACTOR_CORPUS) with index.jsonl is absent")
    return found


@pytest.fixture(autouse=True)
def page_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give every test its own empty page cache, in process and in server subprocesses.

    Tests call the same URLs again and again, and a shared cache would serve later calls
    without a request, so request counts would depend on which tests ran before. The
    variable reaches `Settings()` in process and every subprocess given this environment.
    """
    folder = tmp_path_factory.mktemp("page-cache")
    monkeypatch.setenv("PRODUCT_EXTRACTOR_CACHE_DIR", str(folder))
    return folder


# Settings every server in the tests reads from the environment, subprocesses included:
# - The sandbox shop serves every saved site under one host (127.0.0.1:<port>), so the
#   default of 4 requests per host would bound the fan-out that the tests measure.
# - A high Bright Data rate limit, so the tests measure fetching, not the limiter.
# - Short retry waits; tests of the waits set their own. A Retry-After is still honoured.
# - Parsing in threads, because worker processes would start anew in every test's event
#   loop. Server subprocesses get the default worker processes (`server_environment`).
# Tests of these limits pass their values in Settings.
TEST_ENVIRONMENT = {
    "PRODUCT_EXTRACTOR_PARSE_PROCESSES": "0",
    "PRODUCT_EXTRACTOR_MAX_PER_HOST": "100",
    "PRODUCT_EXTRACTOR_BRIGHTDATA_RATE_LIMIT": "10000/1s",
    "PRODUCT_EXTRACTOR_RETRY_WAIT_INITIAL_S": "0.05",
    "PRODUCT_EXTRACTOR_RETRY_WAIT_MAX_S": "0.5",
    "PRODUCT_EXTRACTOR_RETRY_WAIT_JITTER_S": "0.05",
}


@pytest.fixture(scope="session", autouse=True)
def test_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio, the event loop the MCP SDK's stdio server uses."""
    return "asyncio"


# Direct fetching rejects loopback addresses unless allowed, and the sandbox servers listen on 127.0.0.1.
SANDBOX_ALLOW_HOSTS = "127.0.0.1"


def server_environment() -> dict[str, str]:
    """The environment a server subprocess runs with: this one, logging at INFO, allowing 127.0.0.1.

    It parses in the default worker processes, as a user's server does.
    """
    environment = {
        **os.environ,
        "PRODUCT_EXTRACTOR_LOG_LEVEL": "INFO",
        "PRODUCT_EXTRACTOR_ALLOW_HOSTS": SANDBOX_ALLOW_HOSTS,
    }
    environment.pop("PRODUCT_EXTRACTOR_PARSE_PROCESSES", None)
    return environment


def sandbox_policy() -> UrlPolicy:
    """The URL-safety policy of a fetcher built in a test that fetches from sandbox servers on 127.0.0.1."""
    return UrlPolicy(AllowList.parse(SANDBOX_ALLOW_HOSTS))


def sandbox_settings(**values: Any) -> Settings:
    """Settings for a server in this process that fetches from sandbox servers on 127.0.0.1."""
    return Settings(allow_hosts=SANDBOX_ALLOW_HOSTS, **values)


SERVE_HTTP = [sys.executable, "-m", "product_extractor.server", "serve", "--transport", "http"]


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "server.log"
    # The log goes to a file because an unread pipe would fill up and stall the server.
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*SERVE_HTTP, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=server_environment(),
        )
        try:
            _wait_for_port(port, process, log_path)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the HTTP server exited early:\n{log_path.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the HTTP server did not listen on port {port} within 20 s")
