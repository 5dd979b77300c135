"""Settings of the aftersales service (env prefix AFTERSALES_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AftersalesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_")

    service_name: str = "aftersales"
    http_port: int = 8104
