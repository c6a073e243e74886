"""Who may run commands that change state (ack, mute, unmute, resolve): ``access`` in
channels.yml, per platform.

```yaml
access:
  slack:
    users: [U024BE7LH]        # Slack user ids
    channels: [alerts, ops]   # Vigil channel names (above) or platform channel ids
  discord:
    roles: [oncall]           # role names or ids
  web:
    users: ["*"]              # everyone who can open the console
```

A request is allowed when its user, one of its roles or its channel is named for its platform
(``"*"`` names everyone). Local platforms (terminal, CLI, scheduler) are the operator: always
allowed. Asking questions is never restricted here; only ``Command.mutates`` commands are.
"""

from __future__ import annotations

from pydantic import field_validator

from handlers.types import ChatRequest
from knowledge.config import StrictModel

LOCAL_PLATFORMS = frozenset({"terminal", "cli", "scheduler"})


class AccessRule(StrictModel):
    """Who may change state on one platform."""

    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @field_validator("users", "roles", "channels", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            names = [str(v).strip().lstrip("#") if str(v).strip() != "*" else "*" for v in value]
            if any(not n for n in names):
                raise ValueError("expected non-empty names or ids")
            return tuple(names)
        return value

    def allows(self, req: ChatRequest) -> bool:
        def named(names: tuple[str, ...], *values: str) -> bool:
            return "*" in names or any(v and v.lstrip("#") in names for v in values)

        return (
            named(self.users, req.user)
            or named(self.roles, *req.roles)
            or named(self.channels, req.channel)
        )


class AccessPolicy(StrictModel):
    """``access`` in channels.yml. By default the members of the alerts and ops channels may
    change state on Slack and Discord (they are the ones who see the alert buttons), and anyone
    on the web console (bound to localhost, or behind its token)."""

    slack: AccessRule = AccessRule(channels=("alerts", "ops"))
    discord: AccessRule = AccessRule(channels=("alerts", "ops"))
    web: AccessRule = AccessRule(users=("*",))

    @field_validator("web")
    @classmethod
    def _web_has_no_identities(cls, rule: AccessRule) -> AccessRule:
        named = [u for u in rule.users if u != "*"] + list(rule.roles)
        if named:
            raise ValueError(
                "the web console has no sign-in (a page names itself), so it cannot tell users "
                "or roles apart: use users: ['*'], channels, or nothing (nobody)"
            )
        return rule

    def allows(self, req: ChatRequest) -> bool:
        if req.platform in LOCAL_PLATFORMS:
            return True
        rule: AccessRule | None = getattr(self, req.platform, None)
        return rule is not None and rule.allows(req)
