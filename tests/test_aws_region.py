"""The AWS region: from the config, the environment, the profile or the EC2 instance metadata (a local
IMDSv2 stand-in on 127.0.0.1), else a clear error, never a silent us-east-1."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from featurespark.aws import instance_region, resolve_region
from featurespark.config import log_store_region, online_region, parse_config
from featurespark.errors import ConfigError

NO_REGION = {"project": {"name": "p"}, "offline_store": {"root": "/tmp/fs"}}


class _Imds(BaseHTTPRequestHandler):
    """IMDSv2: a PUT for the session token, then the availability zone with that token."""

    zone = "eu-north-1b"

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(200, "token-1" if self.path == "/latest/api/token" else "")

    def do_GET(self) -> None:  # noqa: N802
        ok = self.path == "/latest/meta-data/placement/availability-zone/" and \
            self.headers.get("x-aws-ec2-metadata-token") == "token-1"
        self._answer(200 if ok else 401, self.zone if ok else "")

    def _answer(self, status: int, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    instance_region.cache_clear()
    yield monkeypatch
    instance_region.cache_clear()


@pytest.fixture
def imds(clean_env: pytest.MonkeyPatch) -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Imds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    clean_env.setenv("AWS_EC2_METADATA_DISABLED", "false")
    clean_env.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url)
    yield url
    server.shutdown()
    server.server_close()


def test_the_config_wins_then_aws_region_then_aws_default_region(clean_env: pytest.MonkeyPatch) -> None:
    configured = parse_config({**NO_REGION, "online_store": {"region": "ap-south-1"}})
    clean_env.setenv("AWS_REGION", "eu-west-3")
    clean_env.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert online_region(configured) == "ap-south-1"
    assert online_region(parse_config(NO_REGION)) == "eu-west-3"
    clean_env.delenv("AWS_REGION")
    assert online_region(parse_config(NO_REGION)) == "ca-central-1"


def test_the_profile_region(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config_file = tmp_path / "aws-config"
    config_file.write_text("[default]\nregion = sa-east-1\n")
    clean_env.setenv("AWS_CONFIG_FILE", str(config_file))
    assert online_region(parse_config(NO_REGION)) == "sa-east-1"


def test_the_instance_metadata_gives_the_region_of_the_ec2_node(imds: str) -> None:
    assert online_region(parse_config(NO_REGION)) == "eu-north-1"
    # The log store's table defaults to the same lookup.
    assert log_store_region(parse_config(NO_REGION)) == "eu-north-1"


def test_no_region_anywhere_is_an_error_that_says_what_to_set(clean_env: pytest.MonkeyPatch) -> None:
    config = parse_config(NO_REGION, source="conf/emr.yaml")
    with pytest.raises(ConfigError) as info:
        online_region(config)
    message = str(info.value)
    assert message.startswith("conf/emr.yaml: no AWS region for 'online_store.region': it is not set, AWS_REGION "
                              "and AWS_DEFAULT_REGION are unset")
    assert "Set 'online_store.region' (e.g. eu-west-1) in the config, or export AWS_REGION." in message
    assert "us-east-1" not in message
    with pytest.raises(ConfigError, match="no AWS region for 'offline_store.log_store.region'"):
        log_store_region(config)


def test_a_configured_region_must_look_like_one() -> None:
    with pytest.raises(ConfigError, match=r"x.yaml: key 'online_store.region': 'Ireland' is not an AWS region name"):
        online_region(parse_config({**NO_REGION, "online_store": {"region": "Ireland"}}, source="x.yaml"))
    assert resolve_region("us-gov-west-1", setting="s") == "us-gov-west-1"
