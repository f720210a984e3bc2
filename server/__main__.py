"""Entry point of `python -m product_extractor.server`."""

from product_extractor.server.cli import app

# The guard matters beyond style: a parse worker process runs this file again under the
# name "__mp_main__" (anyio.to_process does, as multiprocessing does), and must not start a server.
if __name__ == "__main__":
    app()
