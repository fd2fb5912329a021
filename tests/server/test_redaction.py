"""uvicorn's access log writes the raw path and query string: a stream token in it is redacted
(server.redaction), whatever level the access log is switched to."""

from __future__ import annotations

import logging

from server import logging as logs
from server.redaction import RedactTokens

ACCESS = '%s - "%s %s HTTP/%s" %d'
PATH = "/graphql/stream?query=subscription%20%7B%20events%20%7D&token=tgs_eyJ0Ijo.c2lnbmF0dXJl&tenant=acme"


def access_record() -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, ACCESS,
                             ("127.0.0.1:5000", "GET", PATH, "1.1", 200), None)


def test_the_access_line_keeps_the_path_and_loses_the_token() -> None:
    record = access_record()

    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert line == ('127.0.0.1:5000 - "GET /graphql/stream?query=subscription%20%7B%20events%20%7D'
                    '&token=[redacted]&tenant=acme HTTP/1.1" 200')


def test_configured_logging_redacts_the_access_log() -> None:
    logs.configure("text", "INFO")
    access = logging.getLogger("uvicorn.access")
    record = access_record()

    assert all(f.filter(record) for f in access.filters if isinstance(f, logging.Filter))
    logs.configure("text", "INFO")
    assert sum(isinstance(f, RedactTokens) for f in access.filters) == 1
    assert "tgs_" not in record.getMessage()
