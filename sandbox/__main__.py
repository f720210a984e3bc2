"""Entry point of `python -m product_extractor.sandbox`."""

from product_extractor.sandbox.cli import app

app(prog_name="python -m product_extractor.sandbox")
