"""Settings of the logistics service (env prefix LOGISTICS_)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.logistics.carriers import CarrierDesk
from services.logistics.domain import SlaTargets
from services.logistics.plan import Plan
from shared.settings import ServiceSettings

DEFAULT_CARRIERS_FILE = Path(__file__).with_name("carriers.json")


class LogisticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LOGISTICS_")

    service_name: str = "logistics"
    http_port: int = 8103

    # Waves (R13, R16)
    wave_lease_s: int = Field(default=1800, gt=0,
                              description="How long a picker holds an unfinished wave before its shipments "
                                          "go back to the queue (business clock seconds).")
    max_wave_size: int = Field(default=200, gt=0, description="Largest wave one request may ask for.")

    # SLA (R14)
    target_within_24h_pct: int = Field(default=80, ge=0, le=100, description="Share to ship within 24h of payment.")
    target_within_48h_pct: int = Field(default=95, ge=0, le=100, description="Share to ship within 48h of payment.")
    at_risk_horizon_h: float = Field(default=4.0, gt=0,
                                     description="Unshipped orders whose 24h deadline falls within this many hours "
                                                 "are listed as at risk.")
    sla_chart_hours: int = Field(default=72, gt=0, le=24 * 31, description="Hourly buckets returned by GET /sla.")

    # Carriers (R15)
    carriers_file: str = Field(default="", description="JSON carrier rules table; empty = the built-in one "
                                                        "(services/logistics/carriers.json).")
    carrier_capacities: dict[str, int] = Field(default_factory=dict,
                                               description="Daily capacity per carrier code, overriding the "
                                                           "table's (capacity booked ahead of the peak), "
                                                           'e.g. {"SF": 6000}.')
    warehouse_utc_offset_h: int = Field(default=8, ge=-12, le=14,
                                        description="The warehouse's local day, for daily carrier capacity "
                                                    "(China: UTC+8).")

    # Forecast (R18)
    default_pickers: int = Field(default=20, gt=0, description="Pickers assumed by GET /capacity when not given.")
    default_picks_per_hour: int = Field(default=60, gt=0, description="Orders one picker completes per hour.")
    forecast_horizon_h: float = Field(default=24.0, gt=0,
                                      description="How long GET /capacity assumes orders keep arriving at the "
                                                  "rate seen so far.")
    max_pickers: int = Field(default=5000, gt=0, description="Upper bound of the pickers-needed search.")
    projection_refresh_s: float = Field(
        default=15.0, ge=0,
        description="GET /sla's projection (the gauges' on track / at risk) is worked out again at most this "
                    "often; the counts beside it are always live. It reads the whole dispatch queue (about "
                    "1 s at 100,000 queued). 0, and always on a settable clock: every time.")

    # The event's plan (R18, issue 32)
    plan_path: str = Field(default="", description="JSON plan of the event (docs/logistics.md, e.g. "
                                                   "deploy/samples/plan.json) read at start-up; a plan put by "
                                                   "PUT /plan replaces it. Empty: none until one is put.")

    def carriers_path(self) -> Path:
        return Path(self.carriers_file) if self.carriers_file else DEFAULT_CARRIERS_FILE


@dataclass(frozen=True)
class LogisticsPolicy:
    """What the use cases and views are configured with: the settings and the carrier desk
    (the rules table, read once at start-up)."""

    settings: LogisticsSettings
    desk: CarrierDesk
    plan: Plan | None = None  # the file's (LOGISTICS_PLAN_PATH), read at start-up

    @property
    def targets(self) -> SlaTargets:
        return SlaTargets(self.settings.target_within_24h_pct, self.settings.target_within_48h_pct)
