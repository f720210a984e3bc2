"""The MCP server: app, transports, settings and the command line."""
