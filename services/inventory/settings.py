"""Settings of the inventory service (env prefix INVENTORY_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_")

    service_name: str = "inventory"
    http_port: int = 8102
