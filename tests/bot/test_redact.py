"""The bot token never reaches a log line, whichever logger or handler writes it (`core.redact`)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.redact import REDACTED as MASK
from core.redact import SecretRedactor, install_redaction, secret_variants
from tests.fakes.telegram_api import TOKEN

SECRET_HALF = TOKEN.partition(":")[2]


@pytest.fixture
def stream_handler() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("httpx.test-redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def test_variants_are_the_token_and_its_secret_half() -> None:
    assert secret_variants(TOKEN) == [TOKEN, SECRET_HALF]
    assert secret_variants("short:abc") == ["short:abc"]


def test_message_arguments_exception_and_stack_are_redacted(
    stream_handler: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = stream_handler
    uninstall = install_redaction(secret_variants(TOKEN))
    try:
        logger.info('HTTP Request: POST %s "HTTP/1.1 200 OK"',
                    f"http://127.0.0.1/bot{TOKEN}/getUpdates")
        logger.info("the secret half alone: " + SECRET_HALF)
        try:
            raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")
        except RuntimeError:
            logger.exception("start failed")
        logger.warning("stack", stack_info=True, extra={"x": 1})
    finally:
        uninstall()
    text = out.getvalue()
    assert TOKEN not in text and SECRET_HALF not in text
    assert text.count(MASK) >= 3
    assert "getUpdates" in text and "start failed" in text and "RuntimeError" in text


def test_a_formatter_that_formats_exc_info_itself_cannot_print_the_secret(
    stream_handler: tuple[logging.Logger, io.StringIO],
) -> None:
    class JsonLines(logging.Formatter):  # like the daemon's: formats exc_info directly
        def format(self, record: logging.LogRecord) -> str:
            out = {"event": record.getMessage()}
            if record.exc_info:
                out["error"] = self.formatException(record.exc_info)
            elif record.exc_text:
                out["error"] = record.exc_text
            return json.dumps(out)

    logger, out = stream_handler
    logger.handlers[0].setFormatter(JsonLines())
    uninstall = install_redaction([TOKEN])
    try:
        try:
            raise ValueError(f"url http://x/bot{TOKEN}/getMe")
        except ValueError:
            logger.exception("boom")
    finally:
        uninstall()
    line = json.loads(out.getvalue())
    assert TOKEN not in out.getvalue()
    assert MASK in line["error"] and "ValueError" in line["error"]


def test_uninstall_stops_redacting(stream_handler: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream_handler
    uninstall = install_redaction(["s3cr3t-value"])
    uninstall()
    logger.info("s3cr3t-value")
    assert "s3cr3t-value" in out.getvalue()


def test_the_filter_also_works_on_a_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (TOKEN,), None)
    assert SecretRedactor([TOKEN]).filter(record)
    assert record.getMessage() == f"token {MASK}"
