"""Stream tokens (`?token=` on /graphql/stream) never reach a log line: uvicorn's access log
writes the raw path with its query string, so the token's value is replaced there."""

from __future__ import annotations

import logging
import re

TOKEN = re.compile(r"([?&]token=)[^&\s\"]*")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return TOKEN.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """Redacts `token=` query parameters in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


REDACT_TOKENS = RedactTokens()
"""The one instance: `configure` may run more than once, and the filter is added only once."""
