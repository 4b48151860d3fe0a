"""Demo data for the embedded default: the catalog's demo agencies, seeded idempotently on start."""
