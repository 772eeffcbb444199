"""Settings of the gateway (environment variables GATEWAY_*; AMQP_URL is shared)."""

from __future__ import annotations

import secrets
from typing import ClassVar

from ck_contracts.roster import MAX_FILE_BYTES
from ck_runtime.logs import get_logger
from ck_runtime.settings import ServiceSettings, SettingsError, load_settings
from ck_runtime.signing import KeySettingError, RequestSigner
from pydantic import Field, field_validator

from ck_gateway.client_address import Networks, parse_trusted_proxies

log = get_logger(__name__)


class GatewaySettings(ServiceSettings):
    # The portal's address was GATEWAY_PUBLIC_URL before PORTAL_URL (ServiceSettings.portal_url).
    former_variables: ClassVar[dict[str, str]] = {"portal_url": "GATEWAY_PUBLIC_URL"}

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # How long a page waits for a service before it answers 503.
    rpc_timeout: float = Field(default=5.0, gt=0, le=60)
    # Validating or replacing a roster of 50,000 people takes seconds of work in the service.
    file_rpc_timeout: float = Field(default=60.0, gt=0, le=600)
    # Largest request body accepted; larger ones get 413 before they are read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Largest roster file (validatietool and upload, pages and API); only those routes get it.
    max_upload_bytes: int = Field(default=12 * 1024 * 1024, ge=1024, le=MAX_FILE_BYTES)
    # False only for local http. Production (https) must set GATEWAY_SECURE_COOKIES=true so the
    # session cookie is never sent over plain http.
    secure_cookies: bool = False
    # Signs the CSRF tokens. Set the same long random value on every replica in production;
    # empty: the process does not start, except in development mode (CK_DEV_MODE=true), which
    # uses a random key per process (see effective_secret_key).
    secret_key: str = ""
    # Signs every request to the services (ck_runtime.signing): `<key id>:<base64 Ed25519
    # private key>`; the services hold the public half in RPC_VERIFY_KEYS.
    rpc_signing_key: str = ""

    def request_signer(self) -> RequestSigner:
        if not self.rpc_signing_key:
            raise SettingsError(
                "GATEWAY_RPC_SIGNING_KEY is not set: the gateway signs every request to the "
                "services ('ck-ops keys new' makes a key pair)."
            )
        try:
            return RequestSigner.from_setting(self.rpc_signing_key, "GATEWAY_RPC_SIGNING_KEY")
        except KeySettingError as exc:
            raise SettingsError(str(exc)) from exc

    # Proxies whose X-Forwarded-For is believed (client_address.py): comma-separated addresses
    # or networks (CIDR), e.g. the ingress controller's pod network. Empty: no proxy is
    # trusted and the connection's peer is the client.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        parse_trusted_proxies(value)  # ValueError names the bad entry
        return value

    def trusted_proxy_networks(self) -> Networks:
        return parse_trusted_proxies(self.trusted_proxies)

    def effective_secret_key(self) -> str:
        """The configured key. Missing: SettingsError outside development mode (fail closed);
        in development mode a random one, with a warning about what that costs."""
        if self.secret_key:
            return self.secret_key
        self.require_secret(self.secret_key, "GATEWAY_SECRET_KEY")
        log.warning(
            "gateway.secret_key_generated",
            detail="GATEWAY_SECRET_KEY is empty: forms opened before a restart, or served by "
            "another replica, will be refused as expired",
        )
        return secrets.token_urlsafe(32)


def get_settings(**overrides: object) -> GatewaySettings:
    return load_settings(GatewaySettings, "gateway", **overrides)
