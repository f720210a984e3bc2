"""Local stand-ins for the web and for Bright Data, serving saved shop pages on 127.0.0.1.

>>> from product_extractor.sandbox import running_shop
>>> with running_shop() as shop:  # doctest: +SKIP
...     shop.index()["sites"][0]["category_url"]
'http://127.0.0.1:43121/www.sample-outdoor.example/_category'

`running_brightdata()` serves the Web Unlocker and Web Scraper API the same
way; docs/sandbox-brightdata.md describes it.
"""

from product_extractor.sandbox.brightdata_app import BrightDataApp
from product_extractor.sandbox.brightdata_server import (
    RunningBrightData,
    build_brightdata_app,
    running_brightdata,
    serve_brightdata,
)
from product_extractor.sandbox.dataset_records import DATASETS, Dataset
from product_extractor.sandbox.faults import Fault, FaultPlan, Latency, LognormalLatency
from product_extractor.sandbox.links import rewrite_links, sandbox_url
from product_extractor.sandbox.request_log import BrightDataRecord, RequestLog, RequestRecord
from product_extractor.sandbox.saved_pages import (
    SAMPLE_SHOP_DIR,
    SavedPage,
    SavedPages,
    SavedPagesError,
    Site,
    load_saved_pages,
)
from product_extractor.sandbox.server import RunningShop, running_shop, serve_shop
from product_extractor.sandbox.shop import ShopApp
from product_extractor.sandbox.snapshots import SnapshotBehaviour
from product_extractor.sandbox.unlocker_faults import UNLOCK_ERROR_MESSAGES, RateLimit, UnlockerFault

__all__ = [
    "DATASETS",
    "SAMPLE_SHOP_DIR",
    "UNLOCK_ERROR_MESSAGES",
    "BrightDataApp",
    "BrightDataRecord",
    "Dataset",
    "Fault",
    "FaultPlan",
    "Latency",
    "LognormalLatency",
    "RateLimit",
    "RequestLog",
    "RequestRecord",
    "RunningBrightData",
    "RunningShop",
    "SavedPage",
    "SavedPages",
    "SavedPagesError",
    "ShopApp",
    "Site",
    "SnapshotBehaviour",
    "UnlockerFault",
    "build_brightdata_app",
    "load_saved_pages",
    "rewrite_links",
    "running_brightdata",
    "running_shop",
    "sandbox_url",
    "serve_brightdata",
    "serve_shop",
]
