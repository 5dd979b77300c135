"""Settings of the inventory service (env prefix INVENTORY_)."""

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.inventory.domain import InventoryPolicy
from shared.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_")

    service_name: str = "inventory"
    http_port: int = 8102
    catalog_path: Path | None = Field(default=None, description="CSV or JSON catalog loaded at start-up "
                                      "(new skus are created; existing ones keep their stock figures).")
    warehouses_path: Path | None = Field(default=None, description=(
        "JSON list of warehouses loaded at start-up (services/inventory/warehouses.py); absent: one warehouse "
        "`main` serving every region."))
    replenishment_threshold_percent: int = Field(default=20, ge=0, le=100,
                                                 description="Default low-stock threshold, % of planned stock (R9).")
    replenishment_expiry_hours: float = Field(default=72, gt=0,
                                              description="An unanswered replenishment request expires after this.")
    presale_lead_days: float = Field(default=7, gt=0, description="Expected date of presale stock after a sell-out.")
    sell_rate_window_hours: float = Field(default=1, gt=0, le=24 * 7, description=(
        "Sell rate (and so cover) = units reserved net of releases over this recent past, per hour."))
    stock_snapshot_period_hours: float = Field(default=2, gt=0, le=24 * 7, description=(
        "A snapshot of every sku's figures is kept once per slot of this length (R12)."))
    stock_snapshot_check_interval_s: float = Field(default=60, gt=0, le=3600, description=(
        "How often (wall time) the snapshot job looks whether a snapshot is due by the service clock."))

    def policy(self) -> InventoryPolicy:
        return InventoryPolicy(default_threshold_percent=self.replenishment_threshold_percent,
                               request_expiry=timedelta(hours=self.replenishment_expiry_hours),
                               presale_lead=timedelta(days=self.presale_lead_days),
                               sell_rate_window=timedelta(hours=self.sell_rate_window_hours))
