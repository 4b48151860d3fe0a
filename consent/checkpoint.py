"""C2SP tlog-checkpoint bodies inside C2SP signed notes, signed with Ed25519.

A checkpoint body is three lines: the log's origin, the tree size in decimal, the root hash in
standard base64. The signed note appends a blank line and one line per signature,
`— <key name> base64(key id || signature)`, where the key id is the first four bytes of
SHA-256(key name || "\\n" || 0x01 || public key) and the signature covers the body bytes exactly.
Verifier keys travel as `<name>+<hex key id>+base64(0x01 || public key)` (the note "vkey" form).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consent.merkle import HASH_SIZE

ED25519_TYPE = b"\x01"
SIGNATURE_DASH = "\u2014 "  # an em dash and a space start every signature line
MAX_NOTE_BYTES = 16 * 1024
MAX_SIGNATURES = 100
# Key names: non-empty, no whitespace and no "+" (the separator of the vkey form).
_KEY_NAME = re.compile(r"^[^\s+]+$")
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")


class CheckpointError(ValueError):
    """A note, checkpoint or verifier key is malformed, or no trusted signature verifies."""


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("not standard base64") from None


def key_id(name: str, public_key: ed25519.Ed25519PublicKey) -> bytes:
    """The 4-byte signed-note key id of an Ed25519 key under `name`."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_TYPE + raw).digest()[:4]


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted note-signing key: its name, id and Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: ed25519.Ed25519PublicKey

    @classmethod
    def from_public_key(cls, name: str, public_key: ed25519.Ed25519PublicKey) -> NoteVerifier:
        """A verifier for `public_key` under the key name `name`."""
        if not _KEY_NAME.match(name):
            raise CheckpointError("a key name must be non-empty, without spaces or '+'")
        return cls(name, key_id(name, public_key), public_key)

    @classmethod
    def parse(cls, vkey: str) -> NoteVerifier:
        """Parse `<name>+<hex id>+<base64(0x01 || key)>`, checking the id against the key."""
        # The base64 key may itself contain "+": only the first two separate fields.
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _KEY_NAME.match(parts[0]) or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise CheckpointError("a verifier key is <name>+<8 hex digits>+<base64 key>")
        data = _b64decode(parts[2])
        if len(data) != 33 or data[:1] != ED25519_TYPE:
            raise CheckpointError("only Ed25519 verifier keys (type 0x01, 32 bytes) are accepted")
        public_key = ed25519.Ed25519PublicKey.from_public_bytes(data[1:])
        verifier = cls.from_public_key(parts[0], public_key)
        if verifier.key_id.hex() != parts[1]:
            raise CheckpointError("the verifier key's id does not match its name and key")
        return verifier

    def encode(self) -> str:
        """The vkey text form."""
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519_TYPE + raw).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log state: origin, tree size, root hash."""

    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        """The checkpoint text (what is signed), ending with a newline."""
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode('ascii')}\n"


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: ed25519.Ed25519PrivateKey) -> str:
    """The signed note: body, blank line, one signature line. Ed25519 is deterministic, so two
    workers signing the same checkpoint produce the same note."""
    if not _KEY_NAME.match(name):
        raise CheckpointError("a key name must be non-empty, without spaces or '+'")
    body = checkpoint.body()
    signature = private_key.sign(body.encode("utf-8"))
    kid = key_id(name, private_key.public_key())
    return f"{body}\n{SIGNATURE_DASH}{name} {base64.b64encode(kid + signature).decode('ascii')}\n"


def parse_checkpoint_body(body: str) -> Checkpoint:
    """Parse and check a checkpoint body (origin, decimal size, base64 32-byte root; extension
    lines after the third are allowed by the spec and ignored)."""
    if not body.endswith("\n"):
        raise CheckpointError("a checkpoint body ends with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has an origin, a tree size and a root hash")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin or origin != origin.strip():
        raise CheckpointError("the origin line is empty or padded")
    if not _DECIMAL.match(size):
        raise CheckpointError("the tree size is not a canonical decimal number")
    root_hash = _b64decode(root)
    if len(root_hash) != HASH_SIZE or base64.b64encode(root_hash).decode("ascii") != root:
        raise CheckpointError("the root hash is not canonical base64 of 32 bytes")
    if any(line == "" for line in lines[3:]):
        raise CheckpointError("a checkpoint body has no blank lines")
    return Checkpoint(origin, int(size), root_hash)


def open_checkpoint(note: str, verifiers: list[NoteVerifier], origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint note against trusted keys and return the checkpoint.

    At least one signature by a trusted key must verify; a signature line naming a trusted key
    whose signature does not verify rejects the note (signed-note rule); signatures by unknown keys
    are ignored. When `origin` is given, the checkpoint must be for that log."""
    if not isinstance(note, str) or len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise CheckpointError("the note is not text of acceptable size")
    if any(ord(c) < 0x20 and c != "\n" for c in note) or "\ufeff" in note:
        raise CheckpointError("the note holds control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckpointError("a signed note is text, a blank line and signature lines")
    body = note[: split + 1]
    signature_lines = note[split + 2 : -1].split("\n")
    if len(signature_lines) > MAX_SIGNATURES:
        raise CheckpointError("too many signatures")
    trusted = {(v.name, v.key_id): v for v in verifiers}
    verified = False
    for line in signature_lines:
        if not line.startswith(SIGNATURE_DASH):
            raise CheckpointError("a signature line starts with an em dash and a space")
        name, sep, encoded = line[len(SIGNATURE_DASH) :].partition(" ")
        if not sep or not _KEY_NAME.match(name) or " " in encoded:
            raise CheckpointError("a signature line is '— <name> <base64>'")
        blob = _b64decode(encoded)
        if len(blob) < 5:
            raise CheckpointError("a signature is a 4-byte key id and a signature")
        verifier = trusted.get((name, blob[:4]))
        if verifier is None:
            continue
        try:
            verifier.public_key.verify(blob[4:], body.encode("utf-8"))
        except InvalidSignature:
            raise CheckpointError(f"the signature by {name} does not verify") from None
        verified = True
    if not verified:
        raise CheckpointError("no signature by a trusted key")
    checkpoint = parse_checkpoint_body(body)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
