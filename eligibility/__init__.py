"""Eligibility, pure: the policy language over credential claims (policies.py), its evaluation, the
DCQL query derived from a policy (dcql.py) and the plain-language assessment a citizen reads
(assessment.py). No I/O, like `vc/`: the verifiers decide with it and the wallet predicts with it,
over the same rules, so what the wallet says a citizen qualifies for is what the verifier decides.
The catalog stays the data (catalog/services.yaml)."""
