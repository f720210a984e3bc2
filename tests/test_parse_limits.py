"""Pathological pages: deep nesting, huge or broken JSON-LD, deep microdata, invalid UTF-8, broken HTML."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import anyio
import pytest
from selectolax.lexbor import LexborHTMLParser

from product_extractor.products.microdata import MAX_TEXT_CHARS, microdata_items
from product_extractor.products.nesting import (
    MAX_ELEMENT_DEPTH,
    MAX_JSON_DEPTH,
    PageTooComplex,
    check_element_depth,
    prune_json,
)
from product_extractor.products.parse import parse_page
from product_extractor.sandbox import SAMPLE_SHOP_DIR, load_saved_pages
from product_extractor.tools.parsing import PageRejected, parse_off_loop
from product_extractor.web.charset import decode_html
from product_extractor.web.fetcher import Page

URL = "https://shop.example/mug"
MUG = json.dumps(
    {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": "Stoneware Mug",
        "sku": "MUG-1",
        "offers": {"@type": "Offer", "price": "12.50", "priceCurrency": "EUR"},
    }
)
MUG_SCRIPT = f'<script type="application/ld+json">{MUG}</script>'


def page_with(body: str, head: str = MUG_SCRIPT) -> str:
    return f"<!doctype html><html><head><title>Stoneware Mug</title>{head}</head><body>{body}</body></html>"


def assert_mug_found(html: str) -> None:
    parsed = parse_page(html, URL)
    assert parsed.kind == "product"
    assert [product.name for product in parsed.products] == ["Stoneware Mug"]
    assert parsed.products[0].sku == "MUG-1"


# Element depth, checked before parsing


def test_deep_divs_rejected() -> None:
    html = page_with("<div>" * 100_000 + "x" + "</div>" * 100_000)
    with pytest.raises(PageTooComplex, match=f"more than {MAX_ELEMENT_DEPTH} levels deep"):
        check_element_depth(html)


def test_unclosed_deep_divs_rejected() -> None:
    with pytest.raises(PageTooComplex):
        check_element_depth(page_with("<section>" * 20_000))


def test_unclosed_formatting_counts() -> None:
    # Browsers nest unclosed <b> elements, so they count.
    with pytest.raises(PageTooComplex):
        check_element_depth(page_with("<b>x" * 5_000))


@pytest.mark.parametrize(
    "body",
    [
        "<p>paragraph" * 20_000,  # each <p> closes the one before
        "<ul>" + "<li>item" * 20_000 + "</ul>",
        "<a href='/x'>link" * 20_000,  # an <a> closes an open <a>
        "<br><img src='/i.png'><input>" * 10_000,
        "<table>" + "<tr><td>cell" * 10_000 + "</table>",
        "<div><span>unclosed</div>" * 10_000,  # </div> closes the span inside it
        "<script>" + "<div>" * 10_000 + "</script>",
        "<svg>" + "<g><path d='M0 0'/>" * 10_000 + "</svg>",
        "<div>" * (MAX_ELEMENT_DEPTH - 10) + "</div>" * (MAX_ELEMENT_DEPTH - 10),
    ],
)
def test_wide_pages_accepted(body: str) -> None:
    check_element_depth(page_with(body))


def test_sample_shop_pages_accepted() -> None:
    for page in load_saved_pages(SAMPLE_SHOP_DIR):
        html, _charset = decode_html(page.read_bytes(), "")
        check_element_depth(html)


@pytest.mark.corpus
def test_corpus_pages_accepted(corpus_dir: Path) -> None:
    for line in (corpus_dir / "index.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        data = (corpus_dir / entry["file"]).read_bytes()
        if entry["file"].endswith(".gz"):
            data = gzip.decompress(data)
        html, _charset = decode_html(data, "")
        check_element_depth(html)


# The parse step's guards


async def parse_text(html: str, *, processes: bool = False, timeout_s: float = 30.0) -> None:
    page = Page(
        url=URL, requested_url=URL, status=200, headers={}, body=html.encode(), content_type="", elapsed=0.0
    )
    await parse_off_loop(page, processes=processes, limiter=anyio.CapacityLimiter(1), timeout_s=timeout_s)


@pytest.mark.anyio
@pytest.mark.parametrize("processes", [False, True])
async def test_deep_page_rejected_unparsed(processes: bool) -> None:
    with pytest.raises(PageRejected, match=r"mug was not parsed: the page nests its elements more than"):
        await parse_text(page_with("<div>" * 50_000), processes=processes)


@pytest.mark.anyio
@pytest.mark.parametrize("processes", [False, True])
async def test_parse_timeout_rejects_page(processes: bool) -> None:
    # A deadline already passed when the parse starts stops it every time.
    with pytest.raises(PageRejected, match="took longer than 0 s"):
        await parse_text(page_with("<h1>Stoneware Mug</h1>"), processes=processes, timeout_s=0)


# JSON-LD


def test_oversized_jsonld_block_skipped() -> None:
    # 50 MB of JSON-LD next to a normal block: the big block is skipped unread.
    huge = json.dumps({"@type": "Product", "name": "Huge", "description": "x" * 50_000_000})
    html = page_with(
        "<h1>Stoneware Mug</h1>", head=f'<script type="application/ld+json">{huge}</script>' + MUG_SCRIPT
    )
    assert_mug_found(html)


@pytest.mark.parametrize(
    "broken",
    [
        "/*a" * 200_000,  # unclosed block comments: each used to scan to the end
        "\n" * 200_000 + "x",  # blank lines: a line-comment pattern used to rescan them
        "{" * 200_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 5_000 + "1" + "}" * 5_000,
    ],
)
def test_pathological_jsonld_keeps_others(broken: str) -> None:
    html = page_with(
        "<h1>Stoneware Mug</h1>", head=MUG_SCRIPT + f'<script type="application/ld+json">{broken}</script>'
    )
    assert_mug_found(html)


def test_jsonld_repairs_still_work() -> None:
    repaired = MUG.replace('"sku"', '/* a comment */ "sku"').replace("}}", "},}")
    html = page_with("", head=f'<script type="application/ld+json">\n// line comment\n{repaired}</script>')
    assert_mug_found(html)


def test_deep_jsonld_cut_not_dropped() -> None:
    deep = '{"@type": "Thing", "about": ' * 500 + "1" + "}" * 500
    product = MUG[:-1] + f', "isRelatedTo": {deep}}}'
    assert_mug_found(page_with("", head=f'<script type="application/ld+json">{product}</script>'))


def test_prune_json_cuts_below_depth() -> None:
    value = {"a": [{"b": {"c": 1}}]}
    pruned, cut = prune_json(value, max_depth=2)
    assert pruned == {"a": [None]}
    assert cut == 1


def test_prune_json_keeps_shallow_values() -> None:
    value = json.loads(MUG)
    pruned, cut = prune_json(value, max_depth=MAX_JSON_DEPTH)
    assert pruned == json.loads(MUG)
    assert cut == 0


# Microdata, encoding and broken markup


def test_deep_microdata_items_bounded() -> None:
    # Items nested 2,000 deep made the recursive item walk fail and lose the whole page.
    body = '<div itemscope itemtype="https://schema.org/Thing" itemprop="about">' * 2_000
    assert_mug_found(page_with(body))


def test_deep_microdata_properties_parsed() -> None:
    # The owner lookup used to walk every ancestor of each of these 5,000 properties.
    body = '<span itemprop="description">' * 5_000
    assert_mug_found(page_with(f'<div itemscope itemtype="https://schema.org/Thing">{body}</div>'))


def test_nested_text_properties_capped() -> None:
    # Each nested property's value is all the text below it: 3,000 copies of 1 MB without a cap.
    body = '<span itemprop="description">' * 3_000 + "word " * 200_000
    html = page_with(
        f'<div itemscope itemtype="https://schema.org/Product"><b itemprop="name">Mug</b>{body}</div>'
    )
    [item] = microdata_items(LexborHTMLParser(html))
    assert item["name"] == "Mug"
    assert sum(len(text) for text in item["description"]) <= MAX_TEXT_CHARS + 1_000_000
    assert len(item["description"]) < 10


def test_invalid_utf8_page_parsed() -> None:
    raw = page_with("<h1>Stoneware Mug</h1><p>Gr\u00fc\u00dfe</p>").encode("utf-8")
    raw = raw.replace(b"<p>", b"<p>\xff\xfe\xc3\x28\xe2\x82 ", 1)
    html, _charset = decode_html(raw, "text/html; charset=utf-8")
    assert "\ufffd" in html
    assert_mug_found(html)


def test_undeclared_utf8_with_stray_bytes() -> None:
    raw = ("<p>" + "Grüße, café, crème brûlée. " * 20 + "</p>").encode("utf-8")
    raw = raw.replace(b"</p>", b"\xff\xfe</p>")
    html, charset = decode_html(raw, "text/html")
    assert charset == "utf-8"
    assert "Grüße, café" in html
    assert html.count("\ufffd") == 2  # one per invalid byte


def test_bom_outranks_header_charset() -> None:
    raw = "\ufeff<p>Blåbær syltetøy – økologisk</p>".encode("utf-8")
    html, charset = decode_html(raw, "text/html; charset=iso-8859-1")
    assert charset == "utf-8"
    assert "Blåbær syltetøy – økologisk" in html


def test_undeclared_windows_1252_still_detected() -> None:
    html, charset = decode_html("<p>Grüße 9,99 € — café</p>".encode("cp1252"), "text/html")
    assert charset == "cp1252"
    assert html == "<p>Grüße 9,99 € — café</p>"


def test_broken_html_parsed() -> None:
    broken = "<p><b><i><table><tr><td>&#xffffff;<" * 20_000 + "<div class='x" + "</" * 5_000
    assert_mug_found(page_with(broken))


def test_huge_attribute_parsed() -> None:
    assert_mug_found(page_with(f'<div class="{"a" * 5_000_000}" data-x="{"b" * 5_000_000}">x</div>'))
