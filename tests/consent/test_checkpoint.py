"""C2SP signed notes and tlog-checkpoints: every malformed or untrusted note is refused."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consent.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteVerifier,
    open_checkpoint,
    parse_checkpoint_body,
    sign_checkpoint,
)

ORIGIN = "wallet.example/consent"
KEY = ed25519.Ed25519PrivateKey.generate()
VERIFIER = NoteVerifier.from_public_key(ORIGIN, KEY.public_key())
CHECKPOINT = Checkpoint(ORIGIN, 12, hashlib.sha256(b"root").digest())


def test_a_signed_checkpoint_round_trips() -> None:
    note = sign_checkpoint(CHECKPOINT, ORIGIN, KEY)
    body, signature = note.split("\n\n")
    assert body == f"{ORIGIN}\n12\n{base64.b64encode(CHECKPOINT.root_hash).decode()}"
    assert signature.startswith(f"\u2014 {ORIGIN} ")
    assert open_checkpoint(note, [VERIFIER], ORIGIN) == CHECKPOINT


def test_the_key_id_follows_the_signed_note_spec() -> None:
    raw = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert VERIFIER.key_id == expected
    note = sign_checkpoint(CHECKPOINT, ORIGIN, KEY)
    blob = base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4] == expected and len(blob) == 68
    vkey = VERIFIER.encode()
    assert vkey.startswith(f"{ORIGIN}+{expected.hex()}+")
    assert NoteVerifier.parse(vkey) == VERIFIER


def test_a_checkpoint_signed_with_another_key_is_rejected() -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(CheckpointError, match="no signature by a trusted key"):
        open_checkpoint(sign_checkpoint(CHECKPOINT, ORIGIN, other), [VERIFIER], ORIGIN)


def test_a_signature_by_the_trusted_key_id_that_does_not_verify_is_rejected() -> None:
    note = sign_checkpoint(CHECKPOINT, ORIGIN, KEY)
    other = sign_checkpoint(CHECKPOINT, ORIGIN, ed25519.Ed25519PrivateKey.generate())
    # Our key id, someone else's signature bytes.
    ours = base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])
    theirs = base64.b64decode(other.rstrip("\n").rsplit(" ", 1)[1])
    forged = note.rsplit(" ", 1)[0] + " " + base64.b64encode(ours[:4] + theirs[4:]).decode() + "\n"
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(forged, [VERIFIER], ORIGIN)


def test_an_edited_body_is_rejected() -> None:
    note = sign_checkpoint(CHECKPOINT, ORIGIN, KEY)
    with pytest.raises(CheckpointError):
        open_checkpoint(note.replace("\n12\n", "\n13\n"), [VERIFIER], ORIGIN)


def test_signatures_by_unknown_keys_are_ignored() -> None:
    note = sign_checkpoint(CHECKPOINT, ORIGIN, KEY)
    witness = sign_checkpoint(CHECKPOINT, "witness.example", ed25519.Ed25519PrivateKey.generate())
    cosigned = note + witness.split("\n\n")[1]
    assert open_checkpoint(cosigned, [VERIFIER], ORIGIN) == CHECKPOINT


def test_the_origin_must_be_the_expected_log() -> None:
    note = sign_checkpoint(CHECKPOINT, ORIGIN, KEY)
    with pytest.raises(CheckpointError, match=r"not 'other\.example/log'"):
        open_checkpoint(note, [VERIFIER], "other.example/log")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.rstrip("\n"),  # no final newline
        lambda n: n.replace("\n\n", "\n"),  # no blank line before the signatures
        lambda n: n.replace("\u2014 ", "- "),  # not an em dash
        lambda n: n + "\u2014 x\n",  # a signature line without base64
        lambda n: n.replace("\n\n", "\n\x07\n\n"),  # a control character
        lambda n: n + "\u2014 k AAAA\n",  # a signature too short
        lambda n: n.rstrip("\n") + "!\n",  # not base64
        lambda n: n * 2000,  # too large
    ],
)
def test_malformed_notes_are_refused(mangle) -> None:
    with pytest.raises(CheckpointError):
        open_checkpoint(mangle(sign_checkpoint(CHECKPOINT, ORIGIN, KEY)), [VERIFIER], ORIGIN)


@pytest.mark.parametrize(
    "body",
    [
        "origin\n12\n",  # no root line
        f"origin\n012\n{base64.b64encode(bytes(32)).decode()}\n",  # not canonical decimal
        f"origin\n-1\n{base64.b64encode(bytes(32)).decode()}\n",
        f"origin\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # 31-byte root
        "origin\n1\nnot base64!\n",
        f" origin\n1\n{base64.b64encode(bytes(32)).decode()}\n",  # padded origin
        f"origin\n1\n{base64.b64encode(bytes(32)).decode()}",  # no final newline
    ],
)
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint_body(body)


@pytest.mark.parametrize(
    "vkey",
    [
        "name+abcd+AQ==",  # short id
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # id does not match
        "name+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(),  # not Ed25519
        "name with space+00000000+AQ==",
        "justaname",
    ],
)
def test_malformed_or_mismatched_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(CheckpointError):
        NoteVerifier.parse(vkey)
