"""The citizen's personal data store: vault, holder keys, OID4VCI/OID4VP wallet side, web app."""
