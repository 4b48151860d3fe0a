"""Outbound HTTP a party makes on someone else's say-so: URLs checked with w3lib (https only outside
development, never an address on this machine or a private network), fetches pinned to the checked
address and bounded in size, and Token Status List checks with ttl caching. Used by the verifiers and
the wallet, which never import each other."""
