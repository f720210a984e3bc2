"""Fetching pages: the Fetcher protocol and the direct fetcher."""
