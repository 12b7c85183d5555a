"""A local certificate authority and the broker's TLS keystore, made once with `openssl`.

Why it exists: the secure Kafka listener (`fleetstream stack up --secure`) needs a server
certificate that clients can verify. The stack makes its own CA and a certificate for 127.0.0.1 /
localhost, signed by it, and caches both in the state dir; clients trust `ca.crt`
(`KAFKA_SSL_CAFILE`). Nothing here is meant to leave the machine.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from fleetstream.stack.process import StackError

_CA_EXT = """basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
"""
_SERVER_EXT = """basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


@dataclass(frozen=True)
class BrokerTls:
    """The files of the broker's TLS set-up under `directory` (`<state>/kafka/tls`)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def password_file(self) -> Path:
        return self.directory / "keystore.password"

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def ensure(self) -> None:
        """Make the CA, the broker certificate and its PKCS#12 keystore unless cached."""
        if self.keystore.exists() and self.ca_cert.exists() and self.password_file.exists():
            return
        if shutil.which("openssl") is None:
            raise StackError("kafka: `openssl` is needed for the secure listener "
                             "(apt-get install openssl)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        d = self.directory
        (d / "ca.ext").write_text(_CA_EXT)
        (d / "server.ext").write_text(_SERVER_EXT)
        password = secrets.token_urlsafe(18)
        days = "3650"
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "ca.key",
                 "-out", d / "ca.csr", "-subj", "/CN=fleetstream local stack CA")
        _openssl("x509", "-req", "-in", d / "ca.csr", "-signkey", d / "ca.key", "-days", days,
                 "-extfile", d / "ca.ext", "-out", self.ca_cert)
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "broker.key",
                 "-out", d / "broker.csr", "-subj", "/CN=127.0.0.1")
        _openssl("x509", "-req", "-in", d / "broker.csr", "-CA", self.ca_cert,
                 "-CAkey", d / "ca.key", "-CAcreateserial", "-days", days,
                 "-extfile", d / "server.ext", "-out", d / "broker.crt")
        _openssl("pkcs12", "-export", "-in", d / "broker.crt", "-inkey", d / "broker.key",
                 "-certfile", self.ca_cert, "-name", "broker", "-out", self.keystore,
                 "-passout", f"pass:{password}")
        # Written last: its presence says the set is complete.
        self.password_file.write_text(password + "\n")


def _openssl(*args: str | Path) -> None:
    argv = ["openssl", *map(str, args)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"kafka: `openssl {args[0]}` failed (exit {result.returncode}):\n"
                         f"{result.stderr[-2000:]}")
