# moto server with two fixes that make it behave like the real services.
#
# 1. DynamoDB made linearizable.
#
# moto's server handles requests on threads and its DynamoDB backend does not lock, so two
# concurrent conditional writes can both pass their conditions. Real DynamoDB applies every
# conditional write and transaction atomically; this wrapper restores that by serialising the
# backend's public operations (other services stay concurrent, so SQS long polls block nothing).
import functools
import inspect
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.s3.responses import S3Response
from moto.server import main

_lock = threading.RLock()


def _serialised(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        with _lock:
            return fn(*args, **kwargs)

    return call


for _name, _fn in inspect.getmembers(DynamoDBBackend, inspect.isfunction):
    if not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _serialised(_fn))

# 2. S3 answers CompleteMultipartUpload with a <CompleteMultipartUploadResult> document; this
# moto names the root <CompleteMultipartUploadResponse>, which strict clients (the Rust SDK)
# refuse.
_serialized = S3Response.serialized


def _s3_serialized(self, *args, **kwargs):
    status, headers, body = _serialized(self, *args, **kwargs)
    if self.data.get("Action") == "CompleteMultipartUpload":
        wrong, right = "CompleteMultipartUploadResponse", "CompleteMultipartUploadResult"
        if isinstance(body, bytes):
            body = body.replace(wrong.encode(), right.encode())
        elif isinstance(body, str):
            body = body.replace(wrong, right)
    return status, headers, body


S3Response.serialized = _s3_serialized

main(sys.argv[1:])
