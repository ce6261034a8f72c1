"""A throwaway CA and serving certificate, because the API must be served over HTTPS to be usable.

client-go (kubectl, client-go based tools) only sends a kubeconfig's bearer token when the server URL is
https://, so over plain HTTP every request would be anonymous and refused. Whoever serves `build_app`
passes `cert_file`/`key_file` to uvicorn and puts `ca_data` into the kubeconfig's
`certificate-authority-data`.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = timedelta(days=365)


@dataclass(frozen=True)
class ServingCert:
    cert_file: Path
    key_file: Path
    ca_pem: bytes

    @property
    def ca_data(self) -> str:
        """The CA as kubeconfig's `certificate-authority-data` wants it."""
        return base64.b64encode(self.ca_pem).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


Extensions = list[tuple[x509.ExtensionType, bool]]  # (extension, critical)


def _sign(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
          signing_key: ec.EllipticCurvePrivateKey, extensions: Extensions) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + VALIDITY))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def create_serving_cert(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> ServingCert:
    """Write `apiserver.crt`/`apiserver.key` (signed by a fresh CA) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("firebreak-sandbox-ca")
    ca = _sign(ca_name, ca_name, ca_key.public_key(), ca_key,
               [(x509.BasicConstraints(ca=True, path_length=0), True),
                (x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                               key_encipherment=False, data_encipherment=False, key_agreement=False,
                               encipher_only=False, decipher_only=False), True)])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = _sign(_name("kube-apiserver"), ca_name, key.public_key(), ca_key,
                 [(x509.SubjectAlternativeName(names), False),
                  (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)])
    cert_file, key_file = directory / "apiserver.crt", directory / "apiserver.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ServingCert(cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM))
