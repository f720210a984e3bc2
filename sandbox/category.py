"""The generated category page of a site: one ordinary product card per saved product page."""

from __future__ import annotations

import math
from html import escape
from urllib.parse import urlsplit

from product_extractor.sandbox.links import sandbox_url
from product_extractor.sandbox.saved_pages import SavedPage, Site

CATEGORY_PATH = "_category"  # served at /<host>/_category


def category_page_count(site: Site, page_size: int) -> int:
    """Return how many pages the category of `site` spans; `page_size` 0 means one page."""
    if page_size <= 0:
        return 1
    return max(1, math.ceil(len(site.products) / page_size))


def render_category_page(
    site: Site, *, base_url: str | None, page: int = 1, page_size: int = 0
) -> str | None:
    """Render page `page` (from 1) of the category as HTML, or None when the page does not exist.

    Cards keep index order. Each has a link to the product's URL, the labelled
    name, the labelled price with its printed currency when the labels give
    one, and the labelled image. With a `base_url` the links are sandbox URLs
    under it, as the shop serves them. With None they are the original URLs,
    as a page fetched through Bright Data's Web Unlocker shows them.
    """
    page_count = category_page_count(site, page_size)
    if not 1 <= page <= page_count:
        return None

    products = site.products
    if page_size > 0:
        products = products[(page - 1) * page_size : page * page_size]

    category_url = category_page_url(site, base_url)
    pagination_head, pagination_nav = _pagination(category_url, page, page_count)
    cards = "\n".join(_product_card(product, base_url) for product in products)
    title = escape(
        f"All products at {site.host}" + (f", page {page} of {page_count}" if page_count > 1 else "")
    )

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
{pagination_head}
</head>
<body>
<h1>{title}</h1>
<ul class="product-grid">
{cards}
</ul>
{pagination_nav}
</body>
</html>
"""


def category_page_url(site: Site, base_url: str | None) -> str:
    """Return page 1 of the category: on the sandbox under `base_url`, or on the original host when None."""
    if base_url is not None:
        return f"{base_url.rstrip('/')}/{site.host}/{CATEGORY_PATH}"
    scheme = urlsplit(site.products[0].url).scheme if site.products else "https"
    return f"{scheme}://{site.host}/{CATEGORY_PATH}"


def _product_card(product: SavedPage, base_url: str | None) -> str:
    link = escape(product.url if base_url is None else sandbox_url(base_url, product.url))
    name = escape(_first_label(product, "name") or _name_from_url(product.url))
    price = _price_text(product)
    image = _first_label(product, "image")

    lines = [f'<li class="product-card" data-page-id="{escape(product.id)}">']
    if image:
        lines.append(f'  <a href="{link}"><img src="{escape(image)}" alt="{name}" loading="lazy"></a>')
    lines.append(f'  <h2 class="product-name"><a href="{link}">{name}</a></h2>')
    if price:
        lines.append(f'  <p class="price">{escape(price)}</p>')
    lines.append("</li>")
    return "\n".join(lines)


def _pagination(category_url: str, page: int, page_count: int) -> tuple[str, str]:
    """Return the <link rel> tags for <head> and the visible pagination links."""
    head: list[str] = []
    nav: list[str] = []
    if page > 1:
        previous = escape(f"{category_url}?page={page - 1}")
        head.append(f'<link rel="prev" href="{previous}">')
        nav.append(f'<a class="pagination-prev" rel="prev" href="{previous}">Previous</a>')
    if page_count > 1:
        nav.append(f'<span class="pagination-current">Page {page} of {page_count}</span>')
    if page < page_count:
        following = escape(f"{category_url}?page={page + 1}")
        head.append(f'<link rel="next" href="{following}">')
        nav.append(f'<a class="pagination-next" rel="next" href="{following}">Next</a>')
    if not nav:
        return "", ""
    return "\n".join(head), '<nav class="pagination">\n' + "\n".join(nav) + "\n</nav>"


def _first_label(product: SavedPage, key: str) -> str | None:
    values = product.labels.get(key)
    if isinstance(values, list) and values and isinstance(values[0], str | int | float):
        return str(values[0])
    return None


def _price_text(product: SavedPage) -> str | None:
    price = _first_label(product, "price")
    if price is None:
        return None
    currency = _first_label(product, "currency")
    return f"{currency} {price}" if currency else price


def _name_from_url(url: str) -> str:
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    return segments[-1] if segments else url
