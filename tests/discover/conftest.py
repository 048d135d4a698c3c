"""Fixtures for the S3 discovery tests: moto in server mode on 127.0.0.1 (S3 and SQS).

The server is a separate process (``python -m moto.server``) on a free loopback port,
started once per session and reached through boto3 with ``endpoint_url``; every test gets
its own bucket and queue names. AWS credentials are fake and set for the session only.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from s3lineage.testing.moto_server import MotoUnavailable, moto_server

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def aws_env():
    saved = {k: os.environ.get(k) for k in (*_FAKE_ENV, "AWS_PROFILE")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(_FAKE_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def moto_endpoint(aws_env):
    """``http://127.0.0.1:<port>`` of a moto server process (S3 and SQS)."""
    try:
        with moto_server() as endpoint:
            yield endpoint
    except MotoUnavailable as err:
        pytest.fail(str(err))


@pytest.fixture
def s3(moto_endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def sqs(moto_endpoint):
    import boto3

    return boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3) -> str:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name
