"""Local stand-ins for the web, serving saved shop pages on 127.0.0.1."""
