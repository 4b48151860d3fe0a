"""A separate process appending to the ledger, for the concurrency and crash tests.

Usage: python -m tests.consent.append_worker MODE COUNT TAG GO_FILE
  requests  - COUNT consent requests, one transaction each, once GO_FILE exists
  hold      - lock the log, append COUNT leaves, print READY and wait to be killed before commit
  loop      - append batches of 1..COUNT leaves forever (to be killed at a random moment)
Configuration comes from SEOUL_WALLET_DATABASE_URL and SEOUL_WALLET_MASTER_KEY.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

from consent import log as tlog
from consent.service import ConsentLedger
from consent.status_indexes import status_index_key
from keys.jwk import b64url_decode
from keys.keyring import KeyRing
from seoul_wallet.database import create_database_engine
from tests.consent.conftest import make_record


def main(mode: str, count: int, tag: str, go_file: str) -> None:
    engine = create_database_engine(os.environ["SEOUL_WALLET_DATABASE_URL"])
    master_key = b64url_decode(os.environ["SEOUL_WALLET_MASTER_KEY"])
    keyring = KeyRing(engine, master_key)
    ledger = ConsentLedger(
        engine,
        keyring,
        origin="testserver/consent",
        base_url="http://testserver",
        status_index_key=status_index_key(master_key),
    )
    while not Path(go_file).exists():
        time.sleep(0.005)
    if mode == "requests":
        for n in range(count):
            ledger.request(make_record(citizen=f"citizen:{tag}-{n:06d}", recipient="verifier:load"))
    elif mode == "hold":
        with engine.begin() as conn:
            appender = tlog.LogAppender.lock(conn)
            for n in range(count):
                appender.append("used", "B" * 43, n)
            appender.flush()
            print("READY", flush=True)
            time.sleep(600)
    elif mode == "loop":
        print("READY", flush=True)
        while True:
            with engine.begin() as conn:
                appender = tlog.LogAppender.lock(conn)
                for n in range(random.randint(1, count)):
                    appender.append("used", "C" * 43, n)
                appender.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
