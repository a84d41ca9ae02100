# moto server with DynamoDB made linearizable.
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

main(sys.argv[1:])
