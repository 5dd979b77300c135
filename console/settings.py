"""Settings of the web console (env prefix CONSOLE_)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.limits import ID_PATTERN

CONSOLE_ROLES = ("warehouse", "support", "admin")
"""Roles a person can sign in with (`platform` belongs to machines, not people)."""


class ConfiguredUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(min_length=1, description=f"Any of {', '.join(CONSOLE_ROLES)}.")
    password_hash: str = Field(min_length=1, description="pbkdf2_sha256$<iterations>$<salt>$<hash>, made by "
                                                         "`python -m console hash-password`.")
    warehouses: list[str] = Field(default_factory=list, max_length=50,
                                  description="The warehouse ids this person works in (issue 34); empty or "
                                              "absent: any warehouse.")

    @field_validator("warehouses")
    @classmethod
    def _warehouse_ids(cls, value: list[str]) -> list[str]:
        bad = [w for w in value if not re.match(ID_PATTERN, w)]
        if bad:
            raise ValueError(f"{bad[0][:70]!r} is not a warehouse id (letters, digits and ._:@#/+-, at most 64)")
        if len(set(value)) != len(value):
            raise ValueError("a warehouse is named twice")
        return value


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_")

    host: str = "127.0.0.1"
    http_port: int = 8100
    orders_url: str = "http://127.0.0.1:8101"
    inventory_url: str = "http://127.0.0.1:8102"
    logistics_url: str = "http://127.0.0.1:8103"
    aftersales_url: str = "http://127.0.0.1:8104"
    users: dict[str, ConfiguredUser] = Field(
        default_factory=dict,
        description="JSON: username -> {roles, password_hash}. Empty: the documented development users "
                    "(refused when ENV=production).")
    cookie_secure: bool | None = Field(default=None, description="Send the session cookie over HTTPS only; "
                                                                 "default: on when ENV=production.")
    request_timeout_s: float = Field(default=10.0, gt=0, description="Per call to a service.")
    dead_letter_timeout_s: float = Field(default=5.0, gt=0, description="Reading the .dlq topics' offsets.")
    log_level: str = "INFO"
    # The sign-in throttle (issue 33, console/signin_throttle.py).
    signin_failures_per_account: int = Field(default=5, ge=1, description="Failed sign-ins per account per "
                                             "window before 429.")
    signin_failures_per_address: int = Field(default=20, ge=1, description="Failed sign-ins per client address "
                                             "per window before 429 (higher: a site shares one address).")
    signin_window_s: float = Field(default=60.0, gt=0, description="The throttle's sliding window.")
    time_zone: str = Field(default="Asia/Shanghai",
                           description="The warehouse's time zone (an IANA name, e.g. Asia/Shanghai): pages and "
                                       "the war room's charts show local time, UTC on hover.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: give an IANA name such as Asia/Shanghai or UTC") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def service_urls(self) -> dict[str, str]:
        return {"orders": self.orders_url.rstrip("/"), "inventory": self.inventory_url.rstrip("/"),
                "logistics": self.logistics_url.rstrip("/"), "aftersales": self.aftersales_url.rstrip("/")}
