"""Settings of the logistics service (env prefix LOGISTICS_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class LogisticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOGISTICS_")

    service_name: str = "logistics"
    http_port: int = 8103
