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
    abuse_rules_file: Path | None = Field(
        default=Path(__file__).with_name("abuse_rules.json"),
        description="The abuse rules (R6, services/orders/abuse.py) loaded at start-up, unless an admin set rules "
                    "with PUT /abuse-rules; empty: none from a file.")
