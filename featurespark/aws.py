"""Small AWS helpers with no Spark: the region to use, and text files on S3.

Credentials always come from the AWS default chain (environment, profile, instance profile); nothing
here reads, passes or logs them. Only boto3/botocore are imported, and only when a helper is called.
"""
from __future__ import annotations

import functools
import logging
import os
import re
from typing import Mapping, Optional, Tuple

from featurespark.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "IMDS_TIMEOUT_S",
    "instance_region",
    "is_s3_uri",
    "read_s3_text",
    "resolve_region",
    "split_s3_uri",
]

_S3_URI = re.compile(r"^s3a?://(?P<bucket>[^/]+)/(?P<key>.+)$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
#: Seconds to wait for the EC2 instance metadata service: it answers in milliseconds on EC2, and a
#: machine off EC2 should not hang for long.
IMDS_TIMEOUT_S = 1.0


def is_s3_uri(path: str) -> bool:
    """True for ``s3://`` and ``s3a://`` locations.

    Examples
    --------
    >>> is_s3_uri("s3://bucket/conf/featurespark.yaml"), is_s3_uri("s3a://bucket/x"), is_s3_uri("conf/x.yaml")
    (True, True, False)
    """
    return path.startswith(("s3://", "s3a://"))


def split_s3_uri(uri: str) -> Tuple[str, str]:
    """The bucket and the key of an ``s3://bucket/key`` (or ``s3a://``) URI.

    Raises
    ------
    ConfigError
        If the URI has no bucket or no key.

    Examples
    --------
    >>> split_s3_uri("s3://my-bucket/featurespark/conf/emr.yaml")
    ('my-bucket', 'featurespark/conf/emr.yaml')
    """
    match = _S3_URI.match(uri)
    if not match:
        raise ConfigError(f"{uri!r} is not an S3 object URI; expected s3://BUCKET/KEY, e.g. "
                          "s3://my-bucket/featurespark/conf/emr.yaml.")
    return match.group("bucket"), match.group("key")


def read_s3_text(uri: str) -> str:
    """Read a UTF-8 text object from S3 with boto3 (the default credential chain).

    ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) points boto3 at another S3 API endpoint, as for
    every boto3 client.

    Parameters
    ----------
    uri : str
        ``s3://bucket/key`` (``s3a://`` is read the same way).

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        If the object does not exist, cannot be read (credentials, permissions, network) or is not UTF-8.

    Examples
    --------
    >>> read_s3_text("s3://my-bucket/featurespark/conf/emr.yaml")  # doctest: +SKIP
    'project:\\n  name: driver_ranking\\n...'
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, key = split_s3_uri(uri)
    try:
        # No region needed: botocore follows S3's redirect to the bucket's region.
        client = boto3.session.Session().client("s3", region_name=_env_region())
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except NoCredentialsError as exc:
        raise ConfigError(f"Cannot read {uri}: no AWS credentials found. Configure the default chain "
                          "(an instance profile on EMR, AWS_PROFILE or `aws configure` elsewhere).") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise ConfigError(f"Config {uri} does not exist ({code}). Upload it with "
                              f"`aws s3 cp featurespark.yaml {uri}` or fix the path.") from exc
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            raise ConfigError(f"Cannot read {uri}: access denied. The role running this (the cluster's "
                              f"instance profile on EMR) needs s3:GetObject on arn:aws:s3:::{bucket}/{key}.") from exc
        raise ConfigError(f"Cannot read {uri}: {code}: {error.get('Message', exc)}.") from exc
    except BotoCoreError as exc:
        raise ConfigError(f"Cannot read {uri}: {exc}.") from exc
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{uri} is not UTF-8 text: {exc}.") from exc


def resolve_region(
    configured: Optional[str],
    *,
    setting: str,
    source: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
    use_instance_metadata: bool = True,
) -> str:
    """The AWS region to use: the configured one, else the environment, else the EC2 instance's.

    Looked up in order: ``configured``; ``AWS_REGION``; ``AWS_DEFAULT_REGION``; the ``region`` of the
    AWS profile in use (``~/.aws/config``); the EC2 instance metadata service (the region of the EMR node
    the code runs on). There is no fallback region: if none of these gives one, the error says how to
    set it.

    Parameters
    ----------
    configured : str or None
        The region from the configuration, if any.
    setting : str
        The configuration key, named in the error, e.g. ``"online_store.region"``.
    source : str, optional
        The config file, named in the error.
    env : mapping, optional
        Environment to read instead of ``os.environ`` (the profile and instance metadata are only asked
        when ``env`` is None).
    use_instance_metadata : bool
        Ask the EC2 instance metadata service (1 s timeout; ``AWS_EC2_METADATA_DISABLED=true`` turns it
        off as for boto3).

    Returns
    -------
    str
        A region name such as ``"eu-west-1"``.

    Raises
    ------
    ConfigError
        If no region is found, or the configured one is not a region name.

    Examples
    --------
    >>> resolve_region("eu-west-1", setting="online_store.region")
    'eu-west-1'
    >>> resolve_region(None, setting="online_store.region", env={"AWS_REGION": "eu-central-1"})
    'eu-central-1'
    """
    where = f"{source}: " if source else ""
    if configured:
        if not _REGION.match(configured):
            raise ConfigError(f"{where}key '{setting}': {configured!r} is not an AWS region name "
                              "(such as eu-west-1 or us-east-1).")
        return configured
    variables = os.environ if env is None else env
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if variables.get(name):
            return variables[name]
    if env is None:
        profile_region = _profile_region()
        if profile_region:
            return profile_region
        if use_instance_metadata:
            region = instance_region()
            if region:
                logger.info("%s is unset: using the EC2 instance's region %s", setting, region)
                return region
    raise ConfigError(
        f"{where}no AWS region for '{setting}': it is not set, AWS_REGION and AWS_DEFAULT_REGION are unset, "
        "the AWS profile names none and no EC2 instance metadata answered. Set "
        f"'{setting}' (e.g. eu-west-1) in the config, or export AWS_REGION."
    )


def _env_region() -> Optional[str]:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _profile_region() -> Optional[str]:
    import botocore.session

    try:
        region = botocore.session.Session().get_config_variable("region")
    except Exception as exc:  # noqa: BLE001 - a broken profile file must not hide the real question
        logger.debug("could not read the AWS profile's region: %s", exc)
        return None
    return str(region) if region else None


@functools.lru_cache(maxsize=1)
def instance_region() -> Optional[str]:
    """The region of the EC2 instance this runs on, from the instance metadata service (IMDSv2), or None.

    Cached for the life of the process (``instance_region.cache_clear()`` forgets it). Honours
    ``AWS_EC2_METADATA_DISABLED`` and ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` as boto3 does.

    Examples
    --------
    >>> instance_region()  # doctest: +SKIP
    'eu-west-1'
    """
    import botocore.session
    from botocore.utils import InstanceMetadataRegionFetcher

    session = botocore.session.Session()
    config = {
        name: session.get_config_variable(name)
        for name in ("ec2_metadata_service_endpoint", "ec2_metadata_service_endpoint_mode",
                     "ec2_metadata_v1_disabled")
    }
    fetcher = InstanceMetadataRegionFetcher(timeout=IMDS_TIMEOUT_S, num_attempts=1,
                                            config={k: v for k, v in config.items() if v is not None})
    region = fetcher.retrieve_region()
    return str(region) if region else None
