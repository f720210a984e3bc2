from product_extractor.server.cli import app

app()
