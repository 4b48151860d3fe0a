"""The consent ledger: consent records, transparency log, receipts, consent status."""
