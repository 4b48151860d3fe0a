"""Credential formats as pure functions (no I/O): SD-JWT (RFC 9901), SD-JWT VC, Token Status List, DCQL."""
