"""Log files, followed like ``tail -F``. (Being built: see issue 4.)"""

from __future__ import annotations

from datetime import datetime

from knowledge.sources.base import Fetch, Source, SourceConfig


class FilesConfig(SourceConfig):
    paths: tuple[str, ...] = ()
    """Globs of files and folders."""


class FilesSource(Source):
    kind = "files"
    Config = FilesConfig

    def configured(self) -> bool:
        return bool(getattr(self.config, "paths", None))

    def health(self) -> tuple[bool, str]:
        return False, "not built yet"

    def fetch(self, start: datetime, end: datetime) -> Fetch:
        return Fetch.error("not built yet")
