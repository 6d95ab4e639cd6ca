"""A real S3 API endpoint for tests: moto's standalone server on 127.0.0.1, wired to Spark's s3a."""
from __future__ import annotations

import socket
from dataclasses import dataclass

import boto3
from moto.server import ThreadedMotoServer
from pyspark.sql import SparkSession

# Not secrets: the local endpoint accepts any key; real runs use the AWS default chain.
DUMMY_KEY = "testing"
BUCKET = "featurespark-test"


@dataclass
class S3Endpoint:
    url: str
    bucket: str
    server: ThreadedMotoServer

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3a://{self.bucket}", *parts])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_s3(spark: SparkSession) -> S3Endpoint:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=DUMMY_KEY,
                 aws_secret_access_key=DUMMY_KEY).create_bucket(Bucket=BUCKET)
    # Per-bucket s3a settings, so nothing else in the session is affected.
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    prefix = f"fs.s3a.bucket.{BUCKET}."
    for key, value in {
        "endpoint": url,
        "endpoint.region": "us-east-1",
        "path.style.access": "true",
        "connection.ssl.enabled": "false",
        "access.key": DUMMY_KEY,
        "secret.key": DUMMY_KEY,
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }.items():
        conf.set(prefix + key, value)
    return S3Endpoint(url, BUCKET, server)
