"""An S3-compatible server on 127.0.0.1 (moto's), standing in for object storage in tests and benches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def local_s3(bucket: str = "voxray-test") -> Iterator[dict]:
    """A running server with an empty `bucket`; yields {"uri": s3://bucket, "options": storage_options}.
    The stand-in's credentials are set in the environment while it runs (and inherited by workers)."""
    import boto3
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        yield {"uri": f"s3://{bucket}", "options": {"endpoint_url": endpoint}}
    finally:
        server.stop()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
