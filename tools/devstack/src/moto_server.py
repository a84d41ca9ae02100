# moto server with four fixes that make it behave like the real services.
#
# 1. DynamoDB made linearizable.
#
# moto's server handles requests on threads and its DynamoDB backend does not lock, so two
# concurrent conditional writes can both pass their conditions. Real DynamoDB applies every
# conditional write and transaction atomically; this wrapper restores that by serialising the
# backend's public operations (other services stay concurrent, so SQS long polls block nothing).
import functools
import inspect
import json
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import StreamShard
from moto.moto_api._internal.responses import MotoAPIResponse
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

# 3. DynamoDB Streams survive transactions.
#
# Before a TransactWriteItems moto backs up each table with copy.deepcopy and, when the
# transaction is cancelled, puts the copy back. The copy took the stream along (slower with
# every write) and the restored table had a new stream shard, so a reader holding the old one
# saw no record again. Real DynamoDB streams only what a transaction committed. Here the shard
# is shared with the backup, and what a cancelled transaction appended to it is taken back.
StreamShard.__deepcopy__ = lambda self, memo: self
_transact = DynamoDBBackend.transact_write_items


def _transact_streamed(self, *args, **kwargs):
    with _lock:
        shards = [t.stream_shard for t in self.tables.values() if t.stream_shard is not None]
        lengths = [len(shard.items) for shard in shards]
        try:
            return _transact(self, *args, **kwargs)
        except Exception:
            for shard, length in zip(shards, lengths):
                del shard.items[length:]
            raise


DynamoDBBackend.transact_write_items = _transact_streamed

# 4. /moto-api/data.json (what tests read SNS pushes from) answers even when a model's property
# raises (an S3 key whose bucket is gone did), and `?service=sns` narrows it to one service.


def _model_data(self, request, full_url, headers):
    from urllib.parse import parse_qs, urlparse

    from moto.core.model_instances import model_data

    wanted = parse_qs(urlparse(full_url).query).get("service")
    results = {}
    for service in sorted(model_data):
        if wanted and service not in wanted:
            continue
        results[service] = {}
        for name in sorted(model_data[service]):
            results[service][name] = []
            for instance in model_data[service][name].instances_tracked:
                fields = {}
                for attr in dir(instance):
                    if attr.startswith("_"):
                        continue
                    try:
                        value = getattr(instance, attr)
                        json.dumps(value)
                    except Exception:
                        continue
                    fields[attr] = value
                results[service][name].append(fields)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


MotoAPIResponse.model_data = _model_data

main(sys.argv[1:])
