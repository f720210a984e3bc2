"""Entry point of `python -m product_extractor.sandbox`."""

from product_extractor.sandbox.cli import app

if __name__ == "__main__":
    app(prog_name="python -m product_extractor.sandbox")
