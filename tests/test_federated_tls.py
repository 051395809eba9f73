"""TLS between SuperNode and SuperLink, with real Flower processes: a SuperLink serving a
certificate of a test CA refuses a SuperNode that trusts another CA (it stops with Flower's exit
code 305 and the certificate error in its message) and accepts one that trusts the right CA.

Certificates are made here with ``cryptography`` (a CA, a server certificate for 127.0.0.1 and
localhost, and a second, wrong CA). Needs Flower as tests/test_federated_flower.py does.
"""

from __future__ import annotations

import datetime
import ipaddress
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from icipredict.federated.processes import Flower, TLSFiles, free_port

pytestmark = pytest.mark.slow
PEM = serialization.Encoding.PEM



def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool, san=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(folder: Path) -> tuple[TLSFiles, Path]:
    """A CA with a server certificate for 127.0.0.1/localhost, and another CA's certificate."""
    ca_key, wrong_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("icipredict test CA", ca_key, "icipredict test CA", ca_key, ca=True)
    wrong = _cert("another CA", wrong_key, "another CA", wrong_key, ca=True)
    server = _cert("localhost", server_key, "icipredict test CA", ca_key, ca=False,
                   san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    files = TLSFiles(folder / "ca.crt", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca.public_bytes(PEM))
    files.cert.write_bytes(server.public_bytes(PEM))
    files.key.write_bytes(server_key.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    (folder / "wrong-ca.crt").write_bytes(wrong.public_bytes(PEM))
    return files, folder / "wrong-ca.crt"


def _wait_for(predicate, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_a_supernode_with_the_wrong_ca_cannot_connect_and_the_right_one_can(tmp_path,
                                                                           flower_dir,
                                                                           monkeypatch):
    tls, wrong_ca = make_certificates(tmp_path)
    work = tmp_path / "flower"
    work.mkdir()
    with Flower(work, bin=flower_dir) as fl:
        port = free_port()
        fl.superlink(port, tls=tls)
        link = f"127.0.0.1:{port}"
        wrong = fl.supernode("wrong", link, {}, root_certificates=wrong_ca)
        right = fl.supernode("right", link, {}, root_certificates=tls.ca)
        code = wrong.wait(timeout=120)
        message = fl.failure("supernode-wrong")
        assert code != 0, message
        assert "Exit Code: 305" in message  # Flower's "SSL/TLS handshake error"
        assert "CERTIFICATE_VERIFY_FAILED" in message and "SuperLink" in message, message
        assert _wait_for(lambda: "SuperNode ID" in fl.log("supernode-right")), \
            fl.log("supernode-right")
        assert right.poll() is None  # connected and serving
        node_id = fl.log("supernode-right").split("SuperNode ID:")[1].split()[0]
        assert _wait_for(lambda: f"Activated node_id={node_id}" in fl.log("superlink"))
        assert fl.log("superlink").count("Activated node_id=") == 1  # the wrong one never was

        # `icipredict federated node` with the wrong CA stops and says why
        from typer.testing import CliRunner

        from icipredict.cli import app

        monkeypatch.setenv("ICIPREDICT_FLOWER_BIN", str(flower_dir))
        store = tmp_path / "centre.duckdb"
        store.write_bytes(b"")  # never opened: the TLS handshake fails first
        res = CliRunner().invoke(app, ["federated", "node", "--store", str(store), "--centre",
                                       "x", "--superlink", link, "--root-certificates",
                                       str(wrong_ca)])
        assert res.exit_code != 0
        assert "CERTIFICATE_VERIFY_FAILED" in res.output and "305" in res.output, res.output
