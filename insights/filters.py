"""What the cluster dashboard looks at: one filter, shared by every table."""

from dataclasses import dataclass
from datetime import date

from members.models import Cluster, Topic


@dataclass(frozen=True)
class BalanceFilter:
    """What the cluster dashboard looks at. Every field narrows the events."""

    cluster: Cluster
    start: date | None = None
    end: date | None = None  # exclusive
    kind: str = ""
    topic: Topic | None = None
    period: str = "quarter"

    def as_log(self) -> dict:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "kind": self.kind,
            "topic": self.topic.slug if self.topic else None,
            "period": self.period,
        }
