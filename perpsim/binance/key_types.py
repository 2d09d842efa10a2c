"""Binance's three kinds of API key: HMAC, RSA and Ed25519 ("Signed endpoint security" in Binance's
USDⓈ-M futures API docs).

An HMAC key signs with its secret: the hex HMAC-SHA256 of the payload (auth.py). An RSA or Ed25519
key is registered with its public key, and the client signs with the private key it keeps: the
signature is the base64 of the RSA PKCS#1 v1.5 signature with SHA-256, or of the Ed25519 signature,
over the same payload (query string plus body, without ``signature``), sent URL-encoded. The venue
keeps the public key (PEM) where an HMAC key keeps its secret. Verification uses ``cryptography``.
"""
from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from perpsim.core.errors import VenueError

HMAC, RSA, ED25519 = "HMAC", "RSA", "ED25519"
KEY_TYPES = (HMAC, RSA, ED25519)
MAX_PUBLIC_KEY = 4096        # characters of a PEM public key (RSA 4096 is ~800)


def invalid_key(why: str) -> VenueError:
    return VenueError(-1130, f"Data sent for parameter 'publicKey' is not valid. {why}")


def load_public_key(key_type: str, pem: str):
    """The public key of an RSA or Ed25519 API key, checked to be of that kind."""
    if not isinstance(pem, str) or not pem or len(pem) > MAX_PUBLIC_KEY:
        raise invalid_key("A PEM public key.")
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeError):
        raise invalid_key("A PEM public key.") from None
    if key_type == RSA and not isinstance(key, rsa.RSAPublicKey):
        raise invalid_key("An RSA public key.")
    if key_type == RSA and key.key_size < 2048:
        raise invalid_key("RSA keys have at least 2048 bits.")
    if key_type == ED25519 and not isinstance(key, ed25519.Ed25519PublicKey):
        raise invalid_key("An Ed25519 public key.")
    return key


def public_pem(key) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def new_key_pair(key_type: str) -> tuple[str, str]:
    """A fresh (private PEM, public PEM) pair: RSA 2048 bits or Ed25519 (the venue generates one for
    an operator who brings no public key; the private key is shown once and not kept)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_type == RSA \
        else ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem, public_pem(private.public_key())


def verify(key_type: str, public_key_pem: str, payload: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64, already URL-decoded) signs ``payload`` with this public key."""
    try:
        sig = base64.b64decode(signature.encode("ascii"), validate=True)
        key = load_public_key(key_type, public_key_pem)
        if key_type == RSA:
            key.verify(sig, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(sig, payload)
    except (InvalidSignature, binascii.Error, ValueError, UnicodeError, VenueError):
        return False
    return True


def sign(key_type: str, private_key_pem: str, payload: bytes) -> str:
    """The base64 signature a client sends (tests and tools; the venue never holds private keys)."""
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    raw = key.sign(payload, padding.PKCS1v15(), hashes.SHA256()) if key_type == RSA else key.sign(payload)
    return base64.b64encode(raw).decode()
