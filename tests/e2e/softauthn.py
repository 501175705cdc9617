"""A software WebAuthn authenticator for end-to-end tests.

This is an independent implementation of the authenticator side (plus the small
part of the client/browser that builds clientDataJSON) of WebAuthn Level 3, written
from the specification, so that tests can register and sign in against a relying
party without a browser. It only does what tests need:

* ES256 (ECDSA P-256 / SHA-256) credentials, each with its own signature counter;
* "none" attestation (empty attStmt);
* user presence and user verification always asserted (flags UP|UV), never
  backup-eligible/backed-up (BE/BS off), platform attachment, "internal" transport;
* input and output in the WebAuthn Level 3 JSON forms
  (PublicKeyCredential{Creation,Request}OptionsJSON in,
  {Registration,Authentication}ResponseJSON out), all binary values as
  base64url without padding.

Helpers for negative tests: ``set_counter`` (rewind/advance a counter) and ``clone``
(a copy of keys and counters, i.e. a cloned authenticator).

Dependencies: ``cryptography`` and ``cbor2``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "SoftAuthenticator",
    "Credential",
    "InvalidStateError",
    "NotAllowedError",
    "b64url_encode",
    "b64url_decode",
]

ES256 = -7  # COSE algorithm identifier of ECDSA w/ SHA-256

# authenticatorData flag bits (WebAuthn L3 section 6.1)
FLAG_UP = 0x01  # user present
FLAG_UV = 0x04  # user verified
FLAG_BE = 0x08  # backup eligible (never set here)
FLAG_BS = 0x10  # backed up (never set here)
FLAG_AT = 0x40  # attested credential data included


class InvalidStateError(Exception):
    """Like the DOMException a browser raises when excludeCredentials matches."""


class NotAllowedError(Exception):
    """Like the DOMException a browser raises when no credential can be used."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    """One credential held by the authenticator."""

    id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes | None  # stored only for resident (discoverable) credentials
    sign_count: int = 0
    resident: bool = True

    @property
    def id_b64(self) -> str:
        return b64url_encode(self.id)

    def cose_public_key(self) -> bytes:
        """The public key as a COSE_Key (EC2, ES256, P-256), keys in canonical order."""
        nums = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: ES256,  # alg
                -1: 1,  # crv: P-256
                -2: nums.x.to_bytes(32, "big"),
                -3: nums.y.to_bytes(32, "big"),
            }
        )


def _unwrap(options: dict) -> dict:
    # webauthn-rs serialises {"publicKey": {...}} (the CredentialCreationOptions form).
    return options["publicKey"] if "publicKey" in options else options


def _client_data(type_: str, challenge: str, origin: str) -> bytes:
    # Same member order and compact form as browsers produce.
    return json.dumps(
        {"type": type_, "challenge": challenge, "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()


def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


class SoftAuthenticator:
    """A platform authenticator holding any number of ES256 credentials."""

    def __init__(self, aaguid: bytes = bytes(16)):
        if len(aaguid) != 16:
            raise ValueError("aaguid must be 16 bytes")
        self.aaguid = aaguid
        # base64url credential id -> Credential, in creation order
        self.credentials: dict[str, Credential] = {}

    # ------------------------------------------------------------------ register
    def create(self, options: dict, origin: str, *, resident: bool = True) -> dict:
        """navigator.credentials.create(): returns RegistrationResponseJSON."""
        opts = _unwrap(options)
        rp_id = (opts.get("rp") or {}).get("id") or urlsplit(origin).hostname

        if not any(
            p.get("alg") == ES256 and p.get("type", "public-key") == "public-key"
            for p in opts.get("pubKeyCredParams") or []
        ):
            raise NotAllowedError("relying party does not offer ES256 (alg -7)")

        # A credential of ours for this RP in excludeCredentials: refuse (CTAP2
        # authenticatorMakeCredential step 3 / WebAuthn InvalidStateError).
        for desc in opts.get("excludeCredentials") or []:
            cred = self.credentials.get(b64url_encode(b64url_decode(desc["id"])))
            if cred is not None and cred.rp_id == rp_id:
                raise InvalidStateError("a credential in excludeCredentials is ours")

        cred = Credential(
            id=os.urandom(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=b64url_decode(opts["user"]["id"]) if resident else None,
            sign_count=0,
            resident=resident,
        )

        attested = (
            self.aaguid
            + struct.pack(">H", len(cred.id))
            + cred.id
            + cred.cose_public_key()
        )
        auth_data = (
            _rp_id_hash(rp_id)
            + bytes([FLAG_UP | FLAG_UV | FLAG_AT])
            + struct.pack(">I", cred.sign_count)
            + attested
        )
        # Text keys in canonical CBOR order (shorter first): fmt, attStmt, authData.
        att_obj = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = _client_data("webauthn.create", opts["challenge"], origin)

        self.credentials[cred.id_b64] = cred
        return {
            "id": cred.id_b64,
            "rawId": cred.id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "attestationObject": b64url_encode(att_obj),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    # ------------------------------------------------------------ authenticate
    def get(self, options: dict, origin: str, *, credential_id: str | None = None) -> dict:
        """navigator.credentials.get(): returns AuthenticationResponseJSON.

        Uses ``credential_id`` if given (no further checks, so negative tests can
        sign with any credential of ours); otherwise the first credential of ours
        for rpId listed in allowCredentials, or, when that list is empty, the
        first resident credential for rpId.
        """
        opts = _unwrap(options)
        rp_id = opts.get("rpId") or urlsplit(origin).hostname

        if credential_id is not None:
            cred = self.credentials.get(credential_id)
            if cred is None:
                raise NotAllowedError(f"no credential {credential_id!r}")
        else:
            allow = [
                b64url_encode(b64url_decode(d["id"]))
                for d in opts.get("allowCredentials") or []
            ]
            if allow:
                found = [self.credentials.get(i) for i in allow]
                found = [c for c in found if c is not None and c.rp_id == rp_id]
            else:
                found = [
                    c for c in self.credentials.values() if c.resident and c.rp_id == rp_id
                ]
            if not found:
                raise NotAllowedError(f"no usable credential for {rp_id!r}")
            cred = found[0]

        cred.sign_count = (cred.sign_count + 1) & 0xFFFFFFFF  # bump before signing
        auth_data = (
            _rp_id_hash(rp_id)
            + bytes([FLAG_UP | FLAG_UV])
            + struct.pack(">I", cred.sign_count)
        )
        client_data = _client_data("webauthn.get", opts["challenge"], origin)
        signature = cred.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )  # DER-encoded ECDSA signature

        response = {
            "clientDataJSON": b64url_encode(client_data),
            "authenticatorData": b64url_encode(auth_data),
            "signature": b64url_encode(signature),
        }
        if cred.user_handle is not None:
            response["userHandle"] = b64url_encode(cred.user_handle)
        return {
            "id": cred.id_b64,
            "rawId": cred.id_b64,
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    # ----------------------------------------------------- negative-test helpers
    def set_counter(self, credential_id: str, n: int) -> None:
        """Set a credential's signature counter (the next assertion sends n + 1)."""
        self.credentials[credential_id].sign_count = n

    def clone(self) -> "SoftAuthenticator":
        """An independent copy with the same keys and counters (a cloned authenticator)."""
        twin = SoftAuthenticator(self.aaguid)
        for cid, cred in self.credentials.items():
            der = cred.private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            twin.credentials[cid] = replace(
                cred, private_key=serialization.load_der_private_key(der, None)
            )
        return twin
