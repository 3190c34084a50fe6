"""AWS credentials from the standard chain's static sources, looked up at each call.

Order, as the AWS SDKs do it: the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), then the shared credentials file
(``AWS_SHARED_CREDENTIALS_FILE``, default ``~/.aws/credentials``), then the config file
(``AWS_CONFIG_FILE``, default ``~/.aws/config``, section ``[profile NAME]`` or
``[default]``), for the profile named in config, else ``AWS_PROFILE``, else ``default``.
Rotated keys are picked up without a restart: files are re-read when they change.
Not covered: SSO, assume-role profiles, web identity and instance/container metadata.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from pathlib import Path

from headway.errors import UpstreamError
from headway.providers._sigv4 import AwsCredentials


class AwsCredentialChain:
    def __init__(self, *, profile: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self._profile = profile
        self._environ = os.environ if environ is None else environ
        self._files: dict[Path, tuple[float, configparser.RawConfigParser]] = {}

    def resolve(self) -> AwsCredentials:
        env = self._environ
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if key and secret and self._profile is None:
            return AwsCredentials(key, secret, env.get("AWS_SESSION_TOKEN") or None)
        profile = self._profile or env.get("AWS_PROFILE") or "default"
        home = Path(env.get("HOME") or Path.home())
        shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
        config = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config")
        for path, section in ((shared, profile), (config, profile if profile == "default" else f"profile {profile}")):
            found = self._from_file(path, section)
            if found is not None:
                return found
        raise UpstreamError(
            "auth",
            f"no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile {profile!r} in {shared}",
        )

    def _from_file(self, path: Path, section: str) -> AwsCredentials | None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._files.get(path)
        if cached is None or cached[0] != mtime:
            parser = configparser.RawConfigParser()
            try:
                parser.read(path, encoding="utf-8")
            except (OSError, configparser.Error):
                return None
            self._files[path] = cached = (mtime, parser)
        parser = cached[1]
        if not parser.has_section(section):
            return None
        key = parser.get(section, "aws_access_key_id", fallback=None)
        secret = parser.get(section, "aws_secret_access_key", fallback=None)
        if not key or not secret:
            return None
        return AwsCredentials(key.strip(), secret.strip(), (parser.get(section, "aws_session_token", fallback="") or "").strip() or None)
