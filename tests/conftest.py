"""Shared fixtures: where the saved real pages are, and skipping when they are absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio, the event loop the MCP SDK's stdio server uses."""
    return "asyncio"
