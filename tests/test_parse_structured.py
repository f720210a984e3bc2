"""parse_page on small inline pages: each structured-data form, the merge order, and broken input."""

from __future__ import annotations

import json
from decimal import Decimal

from product_extractor.products import ParsedPage, Product, parse_page

URL = "https://shop.example.com/p/blue-mug"


def _jsonld(data: object) -> str:
    script = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    return f"<html><head>{script}</head><body></body></html>"


def _product(html: str, url: str = URL) -> Product:
    page = parse_page(html, url)
    assert page.products, f"no product parsed; page kind {page.kind}"
    return page.products[0]


MUG = {
    "@context": "https://schema.org",
    "@type": "Product",
    "name": "Blue  Mug &amp; Saucer",
    "sku": "MUG-1",
    "gtin13": "4006381-333931",
    "brand": {"@type": "Brand", "name": "Acme"},
    "image": ["/img/mug.jpg", {"@type": "ImageObject", "url": "https://cdn.example.com/mug-2.jpg"}],
    "offers": {
        "@type": "Offer",
        "price": "12.50",
        "priceCurrency": "EUR",
        "availability": "https://schema.org/InStock",
    },
    "aggregateRating": {"@type": "AggregateRating", "ratingValue": "4.5", "reviewCount": "12"},
}


def test_jsonld_product_name_cleaned() -> None:
    assert _product(_jsonld(MUG)).name == "Blue Mug & Saucer"


def test_jsonld_product_price() -> None:
    assert _product(_jsonld(MUG)).price == Decimal("12.50")


def test_jsonld_product_currency() -> None:
    assert _product(_jsonld(MUG)).currency == "EUR"


def test_jsonld_brand_object() -> None:
    assert _product(_jsonld(MUG)).brand == "Acme"


def test_jsonld_brand_string() -> None:
    assert _product(_jsonld({**MUG, "brand": "Acme"})).brand == "Acme"


def test_jsonld_gtin_digits_only() -> None:
    assert _product(_jsonld(MUG)).gtin == "4006381333931"


def test_jsonld_rating_and_count() -> None:
    product = _product(_jsonld(MUG))
    assert (product.rating, product.review_count, product.best_rating) == (4.5, 12, 5.0)


def test_jsonld_method_recorded() -> None:
    assert _product(_jsonld(MUG)).extracted_by == "json-ld"


def test_relative_image_made_absolute() -> None:
    assert _product(_jsonld(MUG)).images[0] == "https://shop.example.com/img/mug.jpg"


def test_image_object_url_kept() -> None:
    assert "https://cdn.example.com/mug-2.jpg" in _product(_jsonld(MUG)).images


def test_base_href_resolves_images() -> None:
    html = _jsonld({**MUG, "image": "mug.jpg"}).replace(
        "<head>", '<head><base href="https://cdn.example.com/a/">'
    )
    assert _product(html).images[0] == "https://cdn.example.com/a/mug.jpg"


def test_jsonld_array_of_items() -> None:
    html = _jsonld([{"@type": "BreadcrumbList", "itemListElement": []}, MUG])
    assert _product(html).sku == "MUG-1"


def test_jsonld_graph() -> None:
    html = _jsonld({"@context": "https://schema.org", "@graph": [{"@type": "WebPage"}, MUG]})
    assert _product(html).sku == "MUG-1"


def test_product_group_variants() -> None:
    group = {
        "@type": "ProductGroup",
        "name": "Tee",
        "hasVariant": [
            {
                "@type": "Product",
                "sku": "TEE-S",
                "size": "S",
                "offers": {"price": 10, "priceCurrency": "GBP"},
            },
            {
                "@type": "Product",
                "sku": "TEE-M",
                "size": "M",
                "offers": {"price": 11, "priceCurrency": "GBP"},
            },
        ],
    }
    product = _product(_jsonld(group))
    assert [variant.sku for variant in product.variants] == ["TEE-S", "TEE-M"]


def test_product_group_priced_by_variant() -> None:
    group = {
        "@type": "ProductGroup",
        "name": "Tee",
        "hasVariant": [{"@type": "Product", "offers": {"price": 10, "priceCurrency": "GBP"}}],
    }
    assert _product(_jsonld(group)).price == Decimal("10")


def test_nested_offers_list() -> None:
    offers = [{"@type": "Offer", "price": "0"}, {"@type": "Offer", "price": "19.99", "priceCurrency": "USD"}]
    assert _product(_jsonld({**MUG, "offers": offers})).price == Decimal("19.99")


def test_aggregate_offer_low_price() -> None:
    offers = {"@type": "AggregateOffer", "lowPrice": "7.00", "highPrice": "9.00", "priceCurrency": "PLN"}
    assert _product(_jsonld({**MUG, "offers": offers})).price == Decimal("7.00")


def test_price_specification() -> None:
    offers = {
        "@type": "Offer",
        "priceSpecification": {"@type": "UnitPriceSpecification", "price": 5, "priceCurrency": "CHF"},
    }
    product = _product(_jsonld({**MUG, "offers": offers}))
    assert (product.price, product.currency) == (Decimal("5"), "CHF")


def test_availability_url_forms() -> None:
    forms = [
        "http://schema.org/OutOfStock",
        "https://schema.org/OutOfStock",
        "schema.org/OutOfStock",
        "OutOfStock",
    ]
    found = [
        _product(
            _jsonld({**MUG, "offers": {"price": 1, "priceCurrency": "EUR", "availability": form}})
        ).availability
        for form in forms
    ]
    assert found == ["OutOfStock"] * len(forms)


MICRODATA = """
<html><body>
<div itemscope itemtype="http://schema.org/Product">
  <h1 itemprop="name">Kettle</h1>
  <span itemprop="brand" itemscope itemtype="http://schema.org/Brand">
    <span itemprop="name">Bosch</span>
  </span>
  <meta itemprop="sku" content="K-9">
  <img itemprop="image" src="/k.jpg">
  <div itemprop="offers" itemscope itemtype="http://schema.org/Offer">
    <span itemprop="price" content="49.90">49,90 €</span>
    <meta itemprop="priceCurrency" content="EUR">
    <link itemprop="availability" href="http://schema.org/InStock">
  </div>
  <div itemprop="aggregateRating" itemscope itemtype="http://schema.org/AggregateRating">
    <span itemprop="ratingValue">4.1</span> from <span itemprop="reviewCount">8</span>
  </div>
</div>
</body></html>
"""


def test_microdata_product_fields() -> None:
    product = _product(MICRODATA)
    assert (product.name, product.brand, product.sku) == ("Kettle", "Bosch", "K-9")


def test_microdata_offer_price() -> None:
    product = _product(MICRODATA)
    assert (product.price, product.currency, product.availability) == (Decimal("49.90"), "EUR", "InStock")


def test_microdata_rating() -> None:
    assert _product(MICRODATA).rating == 4.1


def test_microdata_method_recorded() -> None:
    assert _product(MICRODATA).extracted_by == "microdata"


OPENGRAPH = """
<html><head>
<meta property="og:type" content="product">
<meta property="og:title" content="Desk Lamp">
<meta property="og:image" content="/lamp.jpg">
<meta property="product:price:amount" content="24.00">
<meta property="product:price:currency" content="GBP">
<meta property="product:availability" content="out of stock">
<meta property="product:brand" content="Anglepoise">
<meta property="product:retailer_item_id" content="LAMP-7">
</head><body></body></html>
"""


def test_opengraph_only_product() -> None:
    product = _product(OPENGRAPH)
    assert (product.name, product.price, product.currency) == ("Desk Lamp", Decimal("24.00"), "GBP")


def test_opengraph_identifiers() -> None:
    product = _product(OPENGRAPH)
    assert (product.brand, product.sku, product.availability) == ("Anglepoise", "LAMP-7", "OutOfStock")


def test_opengraph_method_recorded() -> None:
    assert _product(OPENGRAPH).extracted_by == "opengraph"


def test_merge_prefers_jsonld_values() -> None:
    html = OPENGRAPH.replace(
        "</head>", f'<script type="application/ld+json">{json.dumps(MUG)}</script></head>'
    )
    assert _product(html).price == Decimal("12.50")


def test_merge_fills_gaps_from_opengraph() -> None:
    partial = {"@type": "Product", "name": "Blue Mug", "offers": {"price": "3", "priceCurrency": "EUR"}}
    html = OPENGRAPH.replace(
        "</head>", f'<script type="application/ld+json">{json.dumps(partial)}</script></head>'
    )
    assert _product(html).sku == "LAMP-7"


def test_merge_keeps_leading_method() -> None:
    partial = {"@type": "Product", "name": "Blue Mug", "offers": {"price": "3", "priceCurrency": "EUR"}}
    html = OPENGRAPH.replace(
        "</head>", f'<script type="application/ld+json">{json.dumps(partial)}</script></head>'
    )
    assert _product(html).extracted_by == "json-ld"


def test_broken_jsonld_repaired() -> None:
    block = '{"@type": "Product", "name": "Mug", /* note */ "sku": "A1",}'
    html = f'<script type="application/ld+json">{block}</script>'
    assert _product(html).sku == "A1"


def test_unparseable_jsonld_skipped() -> None:
    html = '<script type="application/ld+json">{"@type": "Product", "name": </script>' + OPENGRAPH
    assert _product(html).name == "Desk Lamp"


def test_empty_page_is_other() -> None:
    assert parse_page("", URL) == ParsedPage(
        url=URL, kind="other", products=[], product_links=[], next_page_url=None
    )


def test_garbage_input_never_raises() -> None:
    for html in [
        "<<<>>>",
        "<html><body><div><div><span>",
        "\x00\x01",
        "<script type='application/ld+json'>[[[[</script>",
    ]:
        assert parse_page(html, URL).kind in ("product", "listing", "other")


def test_deeply_nested_jsonld_skipped() -> None:
    html = '<script type="application/ld+json">' + "[" * 5000 + "]" * 5000 + "</script>"
    assert parse_page(html, URL).products == []


def test_source_url_is_page_url() -> None:
    assert _product(_jsonld(MUG)).source_url == URL


LISTING = (
    """
<html><body>
<nav><a href="/c/mugs">Mugs</a><a href="/c/plates">Plates</a></nav>
<h1>Mugs</h1>
<ul class="grid">
"""
    + "".join(
        f'<li class="card"><a href="/p/mug-{n}"><img src="/m{n}.jpg"></a>'
        f'<a href="/p/mug-{n}">Mug number {n}</a>'
        f'<span class="price">€{n}.00</span><a href="/wishlist/add/{n}">Save</a></li>'
        for n in range(1, 9)
    )
    + """
</ul>
<div class="pagination"><a href="?page=1">1</a><a class="next" href="?page=2">Next</a></div>
<footer><a href="/p/gift-card">Gift card</a></footer>
</body></html>
"""
)


def test_listing_kind() -> None:
    assert parse_page(LISTING, "https://shop.example.com/c/mugs").kind == "listing"


def test_listing_links_deduplicated_in_order() -> None:
    links = parse_page(LISTING, "https://shop.example.com/c/mugs").product_links
    assert links == [f"https://shop.example.com/p/mug-{n}" for n in range(1, 9)]


def test_listing_next_page() -> None:
    assert (
        parse_page(LISTING, "https://shop.example.com/c/mugs").next_page_url
        == "https://shop.example.com/c/mugs?page=2"
    )


def test_listing_other_site_links_dropped() -> None:
    html = LISTING.replace('href="/p/mug-3"', 'href="https://elsewhere.example.org/p/mug-3"')
    links = parse_page(html, "https://shop.example.com/c/mugs").product_links
    assert all(link.startswith("https://shop.example.com/") for link in links)


def test_buy_button_overrides_stale_out_of_stock() -> None:
    stale = {**MUG, "offers": {"price": "12.50", "priceCurrency": "EUR", "availability": "OutOfStock"}}
    html = _jsonld(stale).replace(
        "<body></body>", '<body><button class="add-to-basket">Add to your basket</button></body>'
    )
    assert _product(html).availability == "InStock"


def test_stock_notice_keeps_out_of_stock() -> None:
    stale = {**MUG, "offers": {"price": "12.50", "priceCurrency": "EUR", "availability": "OutOfStock"}}
    html = _jsonld(stale).replace(
        "<body></body>",
        '<body><p class="stock">Out of stock</p><button class="add-to-basket">Add to basket</button></body>',
    )
    assert _product(html).availability == "OutOfStock"


def test_product_group_id_as_sku() -> None:
    group = {
        "@type": "ProductGroup",
        "name": "Alpine Shell Jacket",
        "productGroupID": "OD-JKT-ALP",
        "hasVariant": [
            {"@type": "Product", "sku": "OD-JKT-ALP-M", "offers": {"price": 89, "priceCurrency": "EUR"}}
        ],
    }
    assert _product(_jsonld(group)).sku == "OD-JKT-ALP"


def test_product_group_own_sku_wins() -> None:
    group = {"@type": "ProductGroup", "name": "Tee", "sku": "TEE", "productGroupID": "TEE-GROUP"}
    assert _product(_jsonld(group)).sku == "TEE"


def test_description_escaped_markup_stripped() -> None:
    description = "Energy class A+&lt;br /&gt; <p>Ice tray &amp;  drawers</p>"
    assert _product(_jsonld({**MUG, "description": description})).description == (
        "Energy class A+ Ice tray & drawers"
    )


PLACEHOLDER_IMAGES = [
    "https://ir.ebaystatic.com/pictures/skin/gif/spinner.gif",
    "https://images-na.ssl-images-amazon.com/images/G/01/x-locale/common/transparent-pixel._V192234675_.gif",
    "https://images-na.ssl-images-amazon.com/images/G/01/x-locale/common/grey-pixel.gif",
    "https://shop.example.com/static/placeholder.png",
    "https://shop.example.com/static/default-lazy.png",
    "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
]


def test_jsonld_placeholder_images_dropped() -> None:
    images = [*PLACEHOLDER_IMAGES, "https://cdn.example.com/pixel-8-pro.jpg"]
    assert _product(_jsonld({**MUG, "image": images})).images == ["https://cdn.example.com/pixel-8-pro.jpg"]


def test_gallery_lazy_image_read() -> None:
    document = (
        "<html><body><h1>Steel Kettle</h1><span class='price'>€ 39.90</span>"
        "<button class='add-to-cart'>Add to cart</button>"
        '<div class="gallery"><img src="https://ir.ebaystatic.com/pictures/skin/gif/spinner.gif"'
        ' data-src="https://cdn.example.com/kettle.jpg"></div></body></html>'
    )
    assert _product(document).images == ["https://cdn.example.com/kettle.jpg"]


def test_price_padded_to_minor_unit() -> None:
    assert (
        str(_product(_jsonld({**MUG, "offers": {"price": "49.1", "priceCurrency": "EUR"}})).price) == "49.10"
    )


def test_variant_price_padded_to_minor_unit() -> None:
    group = {
        "@type": "ProductGroup",
        "name": "Tee",
        "hasVariant": [{"@type": "Product", "offers": {"price": "19.5", "priceCurrency": "USD"}}],
    }
    assert str(_product(_jsonld(group)).variants[0].price) == "19.50"
