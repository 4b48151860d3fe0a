"""The platform's relying-party CA: certifies each registered verifier's request-signing key and DNS
name, so wallets can check `x509_san_dns:` client identifiers against one trust anchor.

Wallets fetch the CA certificate from `GET /verifiers/rp-ca.pem` (documented in the README).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from keys.jwk import PublicKey
from keys.keyring import KeyRing
from outbound.bounded_cache import BoundedTTLCache
from storage.reads import read_session

CA_OWNER = "rp-ca"
CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=397)
LATEST_CACHE_SECONDS = 60.0


class RPCertificate(SQLModel, table=True):
    """Certificates the RP CA made. Public data; kept so the CA certificate is stable across restarts
    and every verifier certificate can be audited."""

    __tablename__ = "rp_certificates"

    serial: str = Field(primary_key=True, max_length=40, description="hex serial number")
    kind: str = Field(max_length=16, description="ca or verifier")
    subject: str = Field(index=True, max_length=200, description="'ca' or the verifier slug")
    dns_name: str = Field(default="", max_length=253)
    pem: str
    created_at: int
    # One CA certificate per CA key: concurrent first use by several workers converges on one.
    ca_key_kid: str = Field(default="", max_length=64)


class RelyingPartyCA:
    def __init__(self, engine: Engine, keyring: KeyRing, name: str = "Seoul Wallet RP CA") -> None:
        self._engine = engine
        self._keyring = keyring
        self._name = name
        self._lock = threading.Lock()
        self._ca: x509.Certificate | None = None
        self._latest: BoundedTTLCache[str, x509.Certificate] = BoundedTTLCache(1024)

    def ca_certificate(self) -> x509.Certificate:
        """The CA certificate, created on first use."""
        if self._ca is not None:
            return self._ca
        with self._lock:
            key = self._keyring.active_key(CA_OWNER)
            serial = f"ca-{key.kid}"[:40]
            with Session(self._engine, expire_on_commit=False) as session:
                row = session.get(RPCertificate, serial)
                if row is None:
                    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._name)])
                    now = dt.datetime.now(dt.UTC)
                    certificate = (
                        x509.CertificateBuilder()
                        .subject_name(subject)
                        .issuer_name(subject)
                        .public_key(key.private_key.public_key())
                        .serial_number(x509.random_serial_number())
                        .not_valid_before(now - dt.timedelta(minutes=5))
                        .not_valid_after(now + CA_VALIDITY)
                        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                        .add_extension(
                            x509.SubjectKeyIdentifier.from_public_key(key.private_key.public_key()), critical=False
                        )
                        .add_extension(
                            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                        )
                        .sign(key.private_key, hashes.SHA256())
                    )
                    row = RPCertificate(
                        serial=serial,
                        kind="ca",
                        subject="ca",
                        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
                        created_at=int(now.timestamp()),
                        ca_key_kid=key.kid,
                    )
                    session.add(row)
                    try:
                        session.commit()
                    except IntegrityError:  # another worker made it first: use theirs
                        session.rollback()
                        row = session.get(RPCertificate, serial)
                        assert row is not None
            self._ca = x509.load_pem_x509_certificate(row.pem.encode())
        return self._ca

    def ca_pem(self) -> str:
        return self.ca_certificate().public_bytes(serialization.Encoding.PEM).decode()

    def certify(self, verifier_slug: str, dns_name: str, display_name: str, public_key: PublicKey) -> x509.Certificate:
        """A certificate binding `public_key` to `dns_name` (SAN dNSName) for the verifier."""
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("verifier request-signing keys are P-256 (ES256)")
        ca = self.ca_certificate()
        ca_key = self._keyring.active_key(CA_OWNER).private_key
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, dns_name),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, display_name),
                        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, verifier_slug),
                    ]
                )
            )
            .issuer_name(ca.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + LEAF_VALIDITY)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        with Session(self._engine, expire_on_commit=False) as session:
            session.add(
                RPCertificate(
                    serial=format(certificate.serial_number, "x")[:40],
                    kind="verifier",
                    subject=verifier_slug,
                    dns_name=dns_name,
                    pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
                    created_at=int(now.timestamp()),
                )
            )
            session.commit()
        self._latest.pop(verifier_slug)  # the next request object reads the new one
        return certificate

    def latest_certificate(self, verifier_slug: str) -> x509.Certificate | None:
        """The verifier's newest certificate. Kept in memory for LATEST_CACHE_SECONDS: every request
        object carries it, and the caller checks it still certifies the verifier's active key
        (certifying anew when not, which replaces what is kept here)."""
        cached = self._latest.get(verifier_slug)
        if cached is not None:
            return cached
        with read_session(self._engine) as session:
            row = session.exec(
                select(RPCertificate)
                .where(RPCertificate.subject == verifier_slug, RPCertificate.kind == "verifier")
                .order_by(RPCertificate.created_at.desc())  # type: ignore[attr-defined]
                .limit(1)
            ).first()
        if row is None:
            return None
        certificate = x509.load_pem_x509_certificate(row.pem.encode())
        self._latest.put(verifier_slug, certificate, time.monotonic() + LATEST_CACHE_SECONDS)
        return certificate
