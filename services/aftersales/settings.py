"""Settings of the aftersales service (env prefix AFTERSALES_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.aftersales.domain import GiftPolicy
from shared.settings import ServiceSettings


class AftersalesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSALES_")

    service_name: str = "aftersales"
    http_port: int = 8104
    gift_policy: GiftPolicy = Field(
        default=GiftPolicy.RETURN_WITH_ITEM,
        description="R20. `return_with_item`: returning the last units of the paid item that brought a gift "
                    "brings the gift back too. `deduct_value`: the customer keeps the gift and its stated value "
                    "(its unit price) is deducted from the refund.")
    at_risk_hours: float = Field(default=12.0, gt=0,
                                 description="GET /cases/sla lists unhandled cases whose 48-hour deadline is this near.")
