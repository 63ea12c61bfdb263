//! Wharf resolver (filled in by the resolver work).
