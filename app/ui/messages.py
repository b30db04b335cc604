"""App-wide messages: each says what happened, in the past tense (STYLE.md 4).

Screen-specific messages live on the widget or screen that emits them.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from app.core.yamlload import DefinitionError
from app.service.scheduler import TickReport


@dataclass
class LiveDataChanged(Message):
    """New events or decisions were stored (by this process or another).

    Attributes:
        last_seq: the latest event sequence number.
        last_activity: the latest activity row id.
    """

    last_seq: int
    last_activity: int


@dataclass
class SchedulerTicked(Message):
    """The console's scheduler finished a tick (holder or not)."""

    report: TickReport


@dataclass
class DefinitionsReloaded(Message):
    """The campaigns folder was read again; with errors, the running set was kept."""

    errors: list[DefinitionError]


@dataclass
class CampaignStateChanged(Message):
    """An operator activated, paused or resumed a campaign."""

    campaign_id: str
    state: str


@dataclass
class DraftSaved(Message):
    """A campaign draft validated and went live."""

    campaign_id: str
    version: str


@dataclass
class DraftRejected(Message):
    """A campaign draft had problems; the running version is unchanged."""

    campaign_id: str
    errors: list[DefinitionError]


@dataclass
class PersonOpened(Message):
    """An operator opened a person's timeline."""

    person_key: str


@dataclass
class DeliveryRetried(Message):
    """An operator queued a delivery again."""

    delivery_id: int


@dataclass
class OperatorError(Message):
    """Something the operator asked for failed; it was shown to them."""

    text: str
