"""The complaint use cases (R27): open, respond, resolve. Each reads load -> decide -> save in the
caller's unit of work; complaints publish no event (nothing downstream acts on them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.aftersales import complaints, store, store_complaints
from services.aftersales.complaints import Complaint, ComplaintRefused
from services.aftersales.schemas_complaints import ComplaintRequest
from shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class ComplaintStep:
    complaint_id: str
    words: str


def _who(uow: UnitOfWork) -> str:
    actor = uow.actor
    return actor.name if actor.channel == "http" else str(actor)


def open_complaint(uow: UnitOfWork, request: ComplaintRequest) -> Complaint:
    """For an order aftersales knows (its order.accepted arrived); the customer is the order's."""
    record = store.get_purchase_record(uow.session, request.order_id)
    if record is None or not record.accepted:
        raise ComplaintRefused("unknown_order", f"no accepted order {request.order_id} is known to after-sales")
    customer_id = complaints.check_customer(record.customer_id, request.customer_id)
    complaint = complaints.open_complaint(
        complaint_id=f"CMP-{uuid.uuid4().hex[:12].upper()}", order_id=request.order_id, customer_id=customer_id,
        channel=request.channel, subject=request.subject, text=request.text, now=uow.now, by=_who(uow))
    store_complaints.add_complaint(uow.session, complaint)
    return complaint


def _load(uow: UnitOfWork, complaint_id: str) -> Complaint:
    complaint = store_complaints.get_complaint(uow.session, complaint_id, for_update=True)
    if complaint is None:
        raise ComplaintRefused("unknown_complaint", f"no complaint {complaint_id}")
    return complaint


def respond(uow: UnitOfWork, step: ComplaintStep) -> Complaint:
    changed = complaints.respond(_load(uow, step.complaint_id), step.words, uow.now, _who(uow))
    store_complaints.save_complaint(uow.session, changed)
    return changed


def resolve(uow: UnitOfWork, step: ComplaintStep) -> Complaint:
    changed = complaints.resolve(_load(uow, step.complaint_id), step.words, uow.now, _who(uow))
    store_complaints.save_complaint(uow.session, changed)
    return changed
