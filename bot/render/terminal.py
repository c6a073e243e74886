"""Replies as plain terminal text, and channel messages as ``[#channel] text`` lines."""

from __future__ import annotations

from handlers.types import Buttons, Chart, Context, Fields, Reply, Section, Table

THREAD_MARK = "\u21b3"  # ↳


def render(reply: Reply) -> str:
    blocks = [reply.text]
    for part in reply.parts:
        if isinstance(part, Section):
            blocks.append(f"{part.title}:\n{part.text}" if part.title else part.text)
        elif isinstance(part, Fields):
            width = max((len(k) for k, _ in part.items), default=0)
            blocks.append("\n".join(f"{k.ljust(width)}  {v}" for k, v in part.items))
        elif isinstance(part, Table):
            blocks.append(_table(part))
        elif isinstance(part, Chart):
            blocks.append(f"[chart: {part.title}, {len(part.png) // 1024 or 1} KB PNG]")
        elif isinstance(part, Buttons):
            blocks.append("  ".join(f"[{b.label}: `{b.command}`]" for b in part.buttons))
        elif isinstance(part, Context):
            blocks.append(part.text)
    return "\n".join(b for b in blocks if b)


def channel_line(channel: str, reply: Reply) -> str:
    """``[#alerts] first line`` with the following lines indented under it, then each thread
    reply as ``[#alerts]   ↳ first line`` with its own lines indented under that."""
    lines = render(reply).splitlines() or [""]
    out = [f"[#{channel}] {lines[0]}", *(f"    {line}" for line in lines[1:])]
    for answer in reply.thread:
        sub = render(answer).splitlines() or [""]
        out.append(f"[#{channel}]   {THREAD_MARK} {sub[0]}")
        out.extend(f"        {line}" for line in sub[1:])
    return "\n".join(out)


def _table(table: Table) -> str:
    rows = [table.columns, *table.rows]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(table.columns))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
