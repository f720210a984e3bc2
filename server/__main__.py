"""Entry point of `python -m product_extractor.server`."""

# A parse worker process runs this file again under the name "__mp_main__" (anyio.to_process
# does, as multiprocessing does). So the guard keeps it from starting a server, and the import
# sits inside it so that workers do not load the whole server (`server/entry.py` has figures).
if __name__ == "__main__":
    from product_extractor.server.entry import main

    main()
