"""Secrets never leave the server: the bearer token, the API key and credentials in ``--base-url``.

:class:`Redactor` replaces each secret in a text with ``***``; the tool's error messages pass
through it, and :class:`RedactingFilter` applies it to every log record a handler emits (the CLI
puts it on its stderr handler). The settings hold the token and API key as ``SecretStr`` (hidden
in ``repr``) and show ``base_url`` without its credentials.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mcp_server.settings import ServerSettings

__all__ = ["RedactingFilter", "Redactor"]

MASK = "***"


@dataclass(frozen=True)
class Redactor:
    """Replaces every secret of the settings (longest first) in a text."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Redactor:
        found: set[str] = set()
        if settings.token is not None:
            found.add(settings.token.get_secret_value())
        api_key = settings.backend.api_key
        if api_key is not None:
            found.add(api_key.get_secret_value())
        if settings.backend.base_url:
            parts = urlsplit(settings.backend.base_url)
            userinfo = parts.netloc.rpartition("@")[0]
            if userinfo:
                found.add(userinfo)
                user, _, password = userinfo.partition(":")
                found.update(p for p in (password, unquote(password), user, unquote(user)) if p)
        return cls(tuple(sorted((s for s in found if len(s) >= 3), key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message and exception text of each record, redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.secrets:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
                record.exc_text = None
            record.msg = self.redactor(message)
            record.args = None
        return True
