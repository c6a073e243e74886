"""Which channel an alert goes to: ``alert_routes`` in channels.yml, first match wins, else the
``alerts`` route.

```yaml
alert_routes:
  - service: "payments*"
    severity: [critical]
    channel: payments-oncall
```
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import field_validator

from knowledge.config import StrictModel

Severity = Literal["warning", "critical"]


class AlertRoute(StrictModel):
    """One routing rule. ``service``, ``host`` and ``type`` are globs (``*`` matches anything);
    an empty ``severity`` list matches every severity."""

    service: str = "*"
    host: str = "*"
    type: str = "*"
    severity: tuple[Severity, ...] = ()
    channel: str

    @field_validator("service", "host", "type", "channel")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a non-empty name or glob such as 'payments*'")
        return value.strip()

    def matches(self, service: str, host: str, anomaly_type: str, severity: str) -> bool:
        return (
            fnmatch.fnmatchcase(service, self.service)
            and fnmatch.fnmatchcase(host, self.host)
            and fnmatch.fnmatchcase(anomaly_type, self.type)
            and (not self.severity or severity in self.severity)
        )


@dataclass(frozen=True)
class AlertRouter:
    """Routes alerts by service, host, type and severity; ``fallback`` when no rule matches."""

    rules: Sequence[AlertRoute] = ()
    fallback: str = "alerts"

    def channel_for(self, service: str, host: str, anomaly_type: str, severity: str) -> str:
        for rule in self.rules:
            if rule.matches(service, host, anomaly_type, severity):
                return rule.channel
        return self.fallback
