//! Wharf HTTP server.
