"""The HTTP API (Litestar): routes, request/response shapes, error mapping. No business rules."""
