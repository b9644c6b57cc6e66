"""Tables of federation's machinery: the health of each remote domain (deliveries' circuit
breaker and the unavailable mark) and the keys of this server's own instance actor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import Base, UTCDateTime


class FederationDomain(Base):
    """One row per remote domain that has failed since its last success
    (federation/domain_health.py): consecutive failures, when they began, until when its
    deliveries are held back (the circuit breaker), and since when it is unavailable (failing
    for 7 days: no delivery is attempted until it answers or sends something). A domain
    without a row is healthy; a success deletes the row. Shared by every process."""

    __tablename__ = "federation_domains"
    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unavailable_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InstanceKey(Base):
    """The RSA key pair of the instance actor (`/actor`, federation/instance_actor.py), which
    signs this server's fetches; one row, made when first needed."""

    __tablename__ = "instance_keys"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    public_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
