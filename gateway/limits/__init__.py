"""Admit: rate limits and budgets, counted on the shared state (`gateway.state`).

The pipeline calls `Admission.admit()` before executing a plan and `Admission.settle()` after;
`Budget.affordable()` / `Budget.fits()` pick a cheaper plan when `budgets.on_exceed` is
`downgrade`; `Budget.report()` is `/admin/budget`.
"""

from gateway.limits.admit import Admission, Ticket
from gateway.limits.budget import Budget, Reservation
from gateway.limits.rate import RateLimiter, RateTicket

__all__ = ["Admission", "Budget", "RateLimiter", "RateTicket", "Reservation", "Ticket"]
