"""Bright Data clients: Web Unlocker, Web Scraper API (datasets v3), their errors and the cost meter."""
