"""Settings of the orders service (env prefix ORDERS_)."""

from decimal import Decimal
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_")

    service_name: str = "orders"
    http_port: int = 8101
    high_value_threshold: Decimal = Field(default=Decimal("1000.00"),
                                          description="Paid amount at or above which an order is high-value (R2).")
    accepted_currencies: list[str] = Field(default=["CNY"], description="Currencies this deployment takes.")
    promotions_file: Path | None = Field(
        default=None, description="The event's promotion catalogue (JSON, as PUT /promotions takes it), put in force "
                                  "at start-up unless an admin's PUT is (R5); unset and never PUT: promotions are "
                                  "not checked.")
