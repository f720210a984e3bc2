"""extract_products through a real MCP client in memory, against the sandbox shop over real HTTP."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from product_extractor.sandbox import SAMPLE_SHOP_DIR, RunningShop, running_shop
from product_extractor.server.app import create_server
from tests.conftest import sandbox_settings
from tests.shop_helpers import intervals_by_site, max_in_flight, write_generated_shop

pytestmark = pytest.mark.anyio


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    # Latency drawn per request keeps requests in flight long enough to overlap and to finish out of order.
    with running_shop(SAMPLE_SHOP_DIR, latency=(0.02, 0.08), seed=7) as running:
        yield running


def sites(shop: RunningShop) -> list[dict[str, Any]]:
    return [site for site in shop.index()["sites"] if site["category_url"]]


async def call(arguments: dict[str, Any]) -> CallToolResult:
    async with Client(create_server(sandbox_settings())) as client:
        return await client.call_tool("extract_products", arguments)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def entry_for(result: CallToolResult, url: str) -> dict[str, Any]:
    assert result.structured_content is not None
    matches = [entry for entry in result.structured_content["url_results"] if entry["url"] == url]
    assert len(matches) == 1, f"expected one url_results entry for {url}"
    return matches[0]


def products_of(result: CallToolResult, listing_url: str) -> list[dict[str, Any]]:
    assert result.structured_content is not None
    return [
        record for record in result.structured_content["products"] if record.get("listing_url") == listing_url
    ]


async def test_tool_listed_with_schema() -> None:
    async with Client(create_server(sandbox_settings())) as client:
        tools = (await client.list_tools()).tools
    assert [tool.name for tool in tools] == ["extract_products"]
    tool = tools[0]
    urls = tool.input_schema["properties"]["urls"]
    assert urls["maxItems"] == 50
    assert urls["minItems"] == 1
    assert "category" in urls["description"]
    assert tool.input_schema["required"] == ["urls"]
    assert tool.input_schema["properties"]["max_products_per_url"]["default"] == 30
    assert tool.output_schema is not None
    assert set(tool.output_schema["properties"]) >= {"products", "url_results", "stats"}
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True
    assert tool.annotations.open_world_hint is True


# Constraint names that pydantic accepts in Field() but that are no JSON Schema keywords. A host
# that validates arguments against the schema ignores them, so their bounds go unenforced.
PYDANTIC_ONLY_KEYWORDS = {"ge", "gt", "le", "lt"}


def pydantic_only_keywords(schema: Any, path: str = "") -> list[str]:
    """Return the path of every pydantic-only keyword in `schema`, skipping property and definition names."""
    found: list[str] = []
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            found.extend(pydantic_only_keywords(item, f"{path}/{index}"))
    elif isinstance(schema, dict):
        for key, value in schema.items():
            if key in PYDANTIC_ONLY_KEYWORDS:
                found.append(f"{path}/{key}")
            if key in ("properties", "$defs") and isinstance(value, dict):
                for name, subschema in value.items():
                    found.extend(pydantic_only_keywords(subschema, f"{path}/{key}/{name}"))
            else:
                found.extend(pydantic_only_keywords(value, f"{path}/{key}"))
    return found


async def test_input_schema_uses_json_schema_keywords() -> None:
    async with Client(create_server(sandbox_settings())) as client:
        schema = (await client.list_tools()).tools[0].input_schema

    assert pydantic_only_keywords(schema) == []
    cost = json.dumps(schema["properties"]["max_cost_usd"])
    assert '"minimum": 0' in cost, cost


async def test_input_schema_bounds_cost_for_hosts() -> None:
    # A host that validates arguments against the published schema, as jsonschema does here.
    async with Client(create_server(sandbox_settings())) as client:
        schema = (await client.list_tools()).tools[0].input_schema
    validator = jsonschema.Draft202012Validator(schema)

    assert validator.is_valid({"urls": ["https://shop.example/"], "max_cost_usd": 0})
    assert validator.is_valid({"urls": ["https://shop.example/"], "max_cost_usd": None})
    assert not validator.is_valid({"urls": ["https://shop.example/"], "max_cost_usd": -1})


async def test_categories_and_product_page(shop: RunningShop) -> None:
    categories = sites(shop)
    assert len(categories) >= 3
    product_site = categories[0]
    urls = [site["category_url"] for site in categories[:3]] + [product_site["product_urls"][0]]

    result = await call({"urls": urls})

    assert not result.is_error, text_of(result)
    for site in categories[:3]:
        entry = entry_for(result, site["category_url"])
        assert entry["status"] == "ok", entry
        assert entry["page_kind"] == "listing"
        assert entry["products_found"] == len(site["product_urls"])
    product_entry = entry_for(result, urls[3])
    assert product_entry["status"] == "ok", product_entry
    assert product_entry["page_kind"] == "product"
    assert product_entry["products_found"] == 1


async def test_listing_products_keep_order(shop: RunningShop) -> None:
    site = sites(shop)[0]
    result = await call({"urls": [site["category_url"]]})
    products = products_of(result, site["category_url"])
    assert [record["position"] for record in products] == list(range(1, len(site["product_urls"]) + 1))
    assert [record["source_url"] for record in products] == site["product_urls"]


async def test_products_carry_parsed_fields(shop: RunningShop) -> None:
    site = sites(shop)[0]
    result = await call({"urls": [site["category_url"]]})
    products = products_of(result, site["category_url"])
    assert all(record.get("name") for record in products)
    assert all(record.get("extracted_by") for record in products)
    priced = [record for record in products if record.get("price")]
    assert priced, "no product on the sample site has a price"
    assert all(len(record["currency"]) == 3 for record in priced)


async def test_duplicates_reported_fetched_once(shop: RunningShop) -> None:
    url = sites(shop)[0]["product_urls"][0]
    shop.clear_log()
    result = await call({"urls": [url, url.replace("http://", "HTTP://", 1), url + "#reviews"]})
    assert result.structured_content is not None
    assert len(result.structured_content["url_results"]) == 1
    assert result.structured_content["duplicate_urls"] == [
        url.replace("http://", "HTTP://", 1),
        url + "#reviews",
    ]
    assert len([record for record in shop.request_log() if record.host]) == 1


async def test_fields_subset_trims_records(shop: RunningShop) -> None:
    site = sites(shop)[0]
    result = await call({"urls": [site["category_url"]], "fields": ["name", "price"]})
    assert result.structured_content is not None
    for record in result.structured_content["products"]:
        assert set(record) <= {"name", "price", "source_url", "listing_url", "position", "from_cache"}
        assert "source_url" in record


async def test_max_products_caps_listing(shop: RunningShop) -> None:
    site = sites(shop)[0]
    result = await call({"urls": [site["category_url"]], "max_products_per_url": 2})
    assert len(products_of(result, site["category_url"])) == 2
    assert entry_for(result, site["category_url"])["status"] == "ok"


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"urls": []}, "urls"),
        ({"urls": ["ftp://shop.example/a"]}, "urls.0"),
        ({"urls": ["not a url"]}, "urls.0"),
        ({"urls": "https://shop.example/"}, "urls"),
        ({"urls": [f"https://shop.example/{n}" for n in range(51)]}, "urls"),
        ({"urls": ["https://shop.example/"], "max_products_per_url": 0}, "max_products_per_url"),
        ({"urls": ["https://shop.example/"], "timeout_s": -1}, "timeout_s"),
        ({"urls": ["https://shop.example/"], "fields": ["colour"]}, "fields.0"),
        ({"urls": ["https://shop.example/"], "backend": "x"}, "backend"),
        ({}, "urls"),
    ],
)
async def test_bad_arguments_name_argument(arguments: dict[str, Any], named: str) -> None:
    async with Client(create_server(sandbox_settings())) as client:
        result = await client.call_tool("extract_products", arguments)
        assert result.is_error
        assert f"- {named}:" in text_of(result)
        still_up = await client.list_tools()
    assert still_up.tools


def read_traces(folder: Path) -> str:
    return "".join(path.read_text(encoding="utf-8") for path in folder.glob("traces-*.jsonl"))


async def test_url_credentials_never_repeated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = sandbox_settings(trace_dir=tmp_path)
    async with Client(create_server(settings)) as client:
        result = await client.call_tool("extract_products", {"urls": ["http://user:hunter2@10.0.0.1/p"]})

    assert result.is_error
    reply = text_of(result)
    assert "- urls.0: 'http://***@10.0.0.1/p' contains credentials" in reply
    assert "hunter2" not in reply

    # The SDK logs a failed tool call with its error message.
    assert "http://***@10.0.0.1/p" in caplog.text
    assert "hunter2" not in caplog.text

    trace_text = read_traces(tmp_path)
    record = json.loads(trace_text)
    assert record["outcome"] == "error"
    assert record["arguments"] == {"urls": ["http://***@10.0.0.1/p"]}
    assert "hunter2" not in trace_text


async def test_failing_url_keeps_others(shop: RunningShop) -> None:
    healthy, failing = sites(shop)[:2]
    shop.set_fault(failing["host"], status=500)
    result = await call({"urls": [failing["category_url"], healthy["category_url"]]})

    # A 500 is retried: the default three attempts all fail.
    failed = entry_for(result, failing["category_url"])
    assert failed["status"] == "failed"
    assert "HTTP 500" in failed["error"]
    assert "gave up after 3 attempts" in failed["error"]
    assert failed["retries"] == 2
    assert failed["requests"] == 3
    ok = entry_for(result, healthy["category_url"])
    assert ok["retries"] == 0
    assert ok["status"] == "ok"
    assert ok["products_found"] == len(healthy["product_urls"])


async def test_timed_out_url_keeps_others(shop: RunningShop) -> None:
    healthy, slow = sites(shop)[:2]
    shop.set_fault(slow["host"], latency=30.0)
    result = await call({"urls": [slow["category_url"], healthy["category_url"]], "timeout_s": 1})

    timed_out = entry_for(result, slow["category_url"])
    assert timed_out["status"] == "failed"
    assert "timed out after 1 s" in timed_out["error"]
    assert timed_out["requests"] == 1
    ok = entry_for(result, healthy["category_url"])
    assert ok["status"] == "ok"
    assert ok["products_found"] == len(healthy["product_urls"])


async def test_slow_product_page_gives_partial(shop: RunningShop) -> None:
    site = sites(shop)[0]
    slow_path = "/" + site["product_urls"][-1].split("/", 3)[3]
    shop.set_fault(slow_path, latency=30.0)
    result = await call({"urls": [site["category_url"]], "timeout_s": 1.5})

    entry = entry_for(result, site["category_url"])
    assert entry["status"] == "partial"
    assert entry["products_found"] == len(site["product_urls"]) - 1
    assert "timed out" in entry["error"]


async def test_failed_product_page_gives_partial(shop: RunningShop) -> None:
    site = sites(shop)[0]
    broken_path = "/" + site["product_urls"][0].split("/", 3)[3]
    shop.set_fault(broken_path, status=503)
    result = await call({"urls": [site["category_url"]]})

    entry = entry_for(result, site["category_url"])
    assert entry["status"] == "partial"
    assert entry["failed_product_pages"] == 1
    assert "1 of" in entry["error"]
    assert "HTTP 503" in entry["error"]
    assert entry["retries"] == 2
    assert entry["requests"] == len(site["product_urls"]) + 1 + 2
    positions = [record["position"] for record in products_of(result, site["category_url"])]
    assert positions == list(range(2, len(site["product_urls"]) + 1))


async def test_non_shop_page_fails_with_reason(shop: RunningShop) -> None:
    others = [url for site in shop.index()["sites"] for url in site["other_urls"]]
    assert others, "the sample shop has no non-shop page"
    result = await call({"urls": [others[0]]})
    entry = entry_for(result, others[0])
    assert entry["status"] == "failed"
    assert "no product data and no product links" in entry["error"]


async def test_missing_page_fails_with_status(shop: RunningShop) -> None:
    url = f"{shop.base_url}/www.sample-books.example/no-such-page"
    result = await call({"urls": [url]})
    entry = entry_for(result, url)
    assert entry["status"] == "failed"
    assert "HTTP 404" in entry["error"]


async def test_urls_run_concurrently(shop: RunningShop) -> None:
    categories = sites(shop)[:3]
    shop.clear_log()
    result = await call({"urls": [site["category_url"] for site in categories]})
    assert not result.is_error

    spans = intervals_by_site(shop.request_log())
    hosts = [site["host"] for site in categories]
    for first, second in itertools.combinations(hosts, 2):
        start = max(spans[first][0], spans[second][0])
        end = min(spans[first][1], spans[second][1])
        assert start < end, f"requests of {first} and {second} did not overlap"


async def test_product_pages_fetched_concurrently(shop: RunningShop) -> None:
    site = sites(shop)[0]
    shop.clear_log()
    await call({"urls": [site["category_url"]]})
    product_requests = [
        record for record in shop.request_log() if record.host and "_category" not in record.path
    ]
    assert len(product_requests) == len(site["product_urls"])
    assert max_in_flight(product_requests) > 1


@pytest.mark.parametrize(("products", "limit"), [(24, 10), (11, 10), (10, 5), (8, 5)])
async def test_listing_limiter_bounds_requests(tmp_path: Path, products: int, limit: int) -> None:
    host = "www.lamps.example"
    write_generated_shop(tmp_path, host, products=products)
    with running_shop(tmp_path, latency=0.1) as shop:
        category = shop.category_url(host)
        result = await call({"urls": [category]})
        product_requests = [
            record for record in shop.request_log() if record.host and "_category" not in record.path
        ]

    assert entry_for(result, category)["products_found"] == products
    assert max_in_flight(product_requests) == limit


async def test_pagination_followed_to_cap(tmp_path: Path) -> None:
    host = "www.lamps.example"
    write_generated_shop(tmp_path, host, products=12)
    with running_shop(tmp_path, page_size=5) as shop:
        category = shop.category_url(host)
        result = await call({"urls": [category], "max_products_per_url": 7})

    products = products_of(result, category)
    assert [record["name"] for record in products] == [f"Test lamp {number}" for number in range(1, 8)]


async def test_real_sites_give_products(corpus_dir: Path) -> None:
    with running_shop(corpus_dir) as shop:
        categories = sorted(sites(shop), key=lambda site: -len(site["product_urls"]))[:3]
        result = await call(
            {"urls": [site["category_url"] for site in categories], "max_products_per_url": 5}
        )
    for site in categories:
        entry = entry_for(result, site["category_url"])
        assert entry["products_found"] > 0, entry


async def test_process_parsing_matches_threads(shop: RunningShop) -> None:
    urls = [site["category_url"] for site in sites(shop)]
    threaded = await call({"urls": urls})
    async with Client(create_server(sandbox_settings(parse_processes=2))) as client:
        # Both calls fetch and parse every page, so the products match only if parsing does.
        in_processes = await client.call_tool("extract_products", {"urls": urls, "no_cache": True})
    assert threaded.structured_content is not None
    assert in_processes.structured_content is not None
    assert in_processes.structured_content["products"] == threaded.structured_content["products"]
