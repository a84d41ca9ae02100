"""The baseline for finalize's throughput: the same bytes from the same source (provider-sim's
result URL) into the same bucket (moto) with boto3's own managed multipart upload, streamed.

usage: plain_multipart.py URL ENDPOINT BUCKET KEY  -> prints "<seconds> <bytes> <cpu seconds>"
"""

import sys
import time
import urllib.request

import boto3
from boto3.s3.transfer import TransferConfig


def main() -> None:
    url, endpoint, bucket, key = sys.argv[1:5]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    config = TransferConfig(multipart_chunksize=8 * 1024 * 1024)
    started, cpu = time.monotonic(), time.process_time()
    with urllib.request.urlopen(url) as body:
        s3.upload_fileobj(body, bucket, key, Config=config)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
    print(f"{elapsed:.3f} {size} {cpu:.3f}")


if __name__ == "__main__":
    main()
