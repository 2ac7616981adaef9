"""HTTP routers: parse, call the core, shape the response."""
