"""Tool handlers: the extract_products fan-out and its result."""
