"""Transport-neutral commands and jobs: ``async def handle(req, deps) -> Reply``.

No Slack or Discord import appears here; ``bot/`` renders replies for each platform.
"""
