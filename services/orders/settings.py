"""Settings of the orders service (env prefix ORDERS_)."""

from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import AwareDatetime, Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.orders.presale import PresaleTerms, check_expansion
from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_")

    service_name: str = "orders"
    http_port: int = 8101
    high_value_threshold: Decimal = Field(default=Decimal("1000.00"),
                                          description="Paid amount at or above which an order is high-value (R2).")
    accepted_currencies: list[str] = Field(default=["CNY"], description="Currencies this deployment takes.")
    # Deposit presale (docs/orders.md, "Deposit presale"); the terms are fixed when a deposit is accepted.
    presale_expansion: Decimal = Field(default=Decimal("2"), description="What a deposit counts for against the "
                                       "price, times itself (1 to 100, two decimals at most).")
    presale_expansion_by_sku: dict[str, Decimal] = Field(
        default_factory=dict, description='Per-sku expansions, a JSON object, e.g. {"SKU-PHONE-01": "3"}.')
    presale_balance_due_by: AwareDatetime | None = Field(
        default=None, description="End of the balance window for every deposit (ISO 8601 with its offset); "
                                  "unset: each deposit's paid_at plus presale_balance_window_hours.")
    presale_balance_window_hours: float = Field(default=72.0, gt=0, le=24 * 366)
    presale_balance_grace_s: float = Field(default=300.0, ge=0, le=86_400, description=(
        "A balance paid by the window's end is still taken when it arrives this much later; the window job "
        "closes unpaid orders only after it."))
    presale_window_job_interval_s: float = Field(default=30.0, gt=0, le=86_400,
                                                 description="How often the window job looks for unpaid balances.")
    presale_window_job_batch: int = Field(default=200, ge=1, le=10_000,
                                          description="Orders closed per transaction by the window job.")
    presale_window_job_max_batches: int = Field(default=10, ge=1, le=1_000,
                                                description="Transactions per run at most; the rest waits for the next.")

    @field_validator("presale_expansion")
    @classmethod
    def _one_expansion(cls, value: Decimal) -> Decimal:
        check_expansion(value)
        return value

    @field_validator("presale_expansion_by_sku")
    @classmethod
    def _expansions(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for sku, expansion in value.items():
            check_expansion(expansion, sku)
        return value

    def presale_terms(self) -> PresaleTerms:
        return PresaleTerms(expansion=self.presale_expansion, expansion_by_sku=dict(self.presale_expansion_by_sku),
                            balance_due_by=due_by.astimezone(UTC) if (due_by := self.presale_balance_due_by) else None,
                            balance_window=timedelta(hours=self.presale_balance_window_hours),
                            grace=timedelta(seconds=self.presale_balance_grace_s))
    abuse_rules_file: Path | None = Field(
        default=Path(__file__).with_name("abuse_rules.json"),
        description="The abuse rules (R6, services/orders/abuse.py) loaded at start-up, unless an admin set rules "
                    "with PUT /abuse-rules; empty: none from a file.")
    promotions_file: Path | None = Field(
        default=None, description="The event's promotion catalogue (JSON, as PUT /promotions takes it), put in force "
                                  "at start-up unless an admin's PUT is (R5); unset and never PUT: promotions are "
                                  "not checked.")
