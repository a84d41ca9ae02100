"""CloudFront signed URLs by botocore's CloudFrontSigner, an implementation independent of ours,
for the byte-for-byte check in tools/e2e/tests/cdn.rs.

    cloudfront_sign.py keygen                              -> a PKCS#1 RSA private key (PEM)
    cloudfront_sign.py sign PEM_FILE KEY_PAIR_ID URL EXPIRES -> the signed URL
"""

import datetime
import sys

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def keygen() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    sys.stdout.write(pem.decode())


def sign(pem_file: str, key_pair_id: str, url: str, expires: str) -> None:
    with open(pem_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    signer = CloudFrontSigner(
        key_pair_id, lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1())
    )
    until = datetime.datetime.fromtimestamp(int(expires), tz=datetime.timezone.utc)
    sys.stdout.write(signer.generate_presigned_url(url, date_less_than=until))


if __name__ == "__main__":
    if sys.argv[1:2] == ["keygen"]:
        keygen()
    elif sys.argv[1:2] == ["sign"] and len(sys.argv) == 6:
        sign(*sys.argv[2:])
    else:
        sys.exit(__doc__)
