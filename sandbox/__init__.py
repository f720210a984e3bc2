"""Local stand-ins for the web, serving saved shop pages on 127.0.0.1.

>>> from product_extractor.sandbox import running_shop
>>> with running_shop() as shop:  # doctest: +SKIP
...     shop.index()["sites"][0]["category_url"]
'http://127.0.0.1:43121/www.sample-outdoor.example/_category'
"""

from product_extractor.sandbox.faults import Fault, FaultPlan, Latency
from product_extractor.sandbox.links import rewrite_links, sandbox_url
from product_extractor.sandbox.request_log import RequestLog, RequestRecord
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

__all__ = [
    "SAMPLE_SHOP_DIR",
    "Fault",
    "FaultPlan",
    "Latency",
    "RequestLog",
    "RequestRecord",
    "RunningShop",
    "SavedPage",
    "SavedPages",
    "SavedPagesError",
    "ShopApp",
    "Site",
    "load_saved_pages",
    "rewrite_links",
    "running_shop",
    "sandbox_url",
    "serve_shop",
]
