"""The application-day load test (issue 15, item 2): a lean load generator of our own, in processes
of its own, against a live `seoul-wallet serve --workers N` on 127.0.0.1.

Why not Locust: on this 2-core machine the server needs both cores, and whatever the generator
spends per request is taken from the server. Locust runs each simulated user in a gevent greenlet
and sends every request through a requests/urllib3 session with its event hooks and statistics:
several layers of Python per request, where a flow here is four requests and six KB-JWT signatures.
(Locust is not installed and was not measured here; that is a judgement, not a figure.) This
generator is 1-2 processes of threads on `http.client`, bodies built from parts computed before the
timed part, and it reports its own CPU use next to every figure: about 3 % of the machine's two
cores at ~20 flows/s (bench/RESULTS.md, `## load — application day`).

Run it with `python -m tests.load` (tests/load/__main__.py documents the command); the short form
for CI is tests/load/test_load_short.py; the run matrix is bench/bench_load.py.
"""
