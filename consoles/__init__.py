"""The officers' consoles: server-rendered pages (Jinja2, no JavaScript) for agency officers, who
issue credentials one at a time or by cohort and revoke or suspend them, and for service officers,
who open eligibility checks and read the signed decisions.

A front end, not a party: it talks to the issuers and the verifiers over their HTTP APIs only, with
each party's own OAuth client, as that party's back office would. Officers sign in through the
platform's OpenID provider; which party each one works for is the consoles' own record.
Mounted by `consoles.mount.mount_consoles`; pages under /consoles.
"""
