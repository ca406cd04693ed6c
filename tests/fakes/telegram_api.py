"""A local fake of the Telegram Bot API on 127.0.0.1, for end-to-end tests and the benchmark.

It speaks the real HTTP protocol python-telegram-bot uses (`/bot<token>/<method>`, form
and multipart bodies, long-polled `getUpdates`), records every call, serves the updates
a test feeds it, and can misbehave on request: answer 429 with `retry_after`, 502, or
stall without answering. Tests wait on what it records, with a bounded timeout, never
on the clock.

Threaded (stdlib `ThreadingHTTPServer`) so a long poll never blocks the event loop that
runs the bot under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

T = TypeVar("T")

TOKEN = "123456789:TEST-fake-token-secret-AAAAAAAAAAAAAAA"
BOT_ID = 123456789
BOT_USERNAME = "nightshift_test_bot"
JSON_FIELDS = frozenset({"reply_markup", "entities", "commands", "link_preview_options",
                         "allowed_updates", "caption_entities", "reply_parameters"})
SENDING = frozenset({"sendMessage", "sendPhoto", "sendDocument"})


@dataclass
class Call:
    """One request as the server saw it; `status` is what it answered (0: stalled, no answer)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    status: int = 200


@dataclass
class Sent:
    """A message Telegram accepted: text, photo or document."""

    method: str
    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    file: bytes | None
    filename: str | None
    at: float


@dataclass
class Fault:
    method: str | None  # None: any method except getUpdates
    kind: str  # "429" | "502" | "stall" | "400" | "403"
    times: int | None  # None: until healed
    retry_after: int = 1
    description: str = ""


@dataclass
class _State:
    updates: list[dict[str, Any]] = field(default_factory=list)
    pushed_at: dict[int, float] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    file_paths: dict[str, str] = field(default_factory=dict)
    """file_path (as getFile answers) -> file_id, for downloads from /file/bot<token>/…"""
    edits: list[Sent] = field(default_factory=list)
    """Every accepted editMessageText / editMessageReplyMarkup, as the message looked after it."""
    current: dict[tuple[int, int], Sent] = field(default_factory=dict)
    """(chat, message id) -> the message as it is now, edits applied."""
    downloads: list[str] = field(default_factory=list)


class FakeTelegram:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.state = _State()
        self.cond = threading.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._release = threading.Event()
        self._closing = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self._closing = True
            self.cond.notify_all()
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL is set to: the token is appended by the client."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- files the owner sends ------------------------------------------------------------

    def add_file(self, data: bytes, path_hint: str = "documents/file") -> tuple[str, str]:
        """Store a file as Telegram would hold an upload; (file_id, file_unique_id)."""
        number = next(self._file_ids)
        file_id, unique = f"in-file-{number}", f"uniq{number}"
        with self.cond:
            self.state.files[file_id] = data
            self.state.file_paths[f"{path_hint}_{number}"] = file_id
        return file_id, unique

    def _file_path(self, file_id: str) -> str | None:
        return next((p for p, f in self.state.file_paths.items() if f == file_id), None)

    def photo_message(self, user_id: int, data: bytes, *, caption: str | None = None,
                      reply_to: dict[str, Any] | None = None, media_group: str | None = None,
                      forwarded_from: int | None = None, stated_size: int | None = None
                      ) -> dict[str, Any]:
        """A photo as Telegram delivers it: several sizes of one image, the largest last."""
        file_id, unique = self.add_file(data, "photos/file")
        small_id, small_unique = self.add_file(data[:64], "photos/thumb")
        body = self.message(user_id, "", reply_to=reply_to, forwarded_from=forwarded_from)
        body.pop("text")
        size = stated_size if stated_size is not None else len(data)
        body["photo"] = [
            {"file_id": small_id, "file_unique_id": small_unique, "width": 90, "height": 90,
             "file_size": len(data[:64])},
            {"file_id": file_id, "file_unique_id": unique, "width": 1280, "height": 960,
             "file_size": size},
        ]
        if caption is not None:
            body["caption"] = caption
        if media_group is not None:
            body["media_group_id"] = media_group
        return body

    def document_message(self, user_id: int, data: bytes, file_name: str | None, *,
                         caption: str | None = None, reply_to: dict[str, Any] | None = None,
                         stated_size: int | None = None) -> dict[str, Any]:
        file_id, unique = self.add_file(data, "documents/file")
        body = self.message(user_id, "", reply_to=reply_to)
        body.pop("text")
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique,
                                    "file_size": stated_size if stated_size is not None else len(data)}
        if file_name is not None:
            document["file_name"] = file_name
        body["document"] = document
        if caption is not None:
            body["caption"] = caption
        return body

    def voice_message(self, user_id: int) -> dict[str, Any]:
        file_id, unique = self.add_file(b"OggS-not-really", "voice/file")
        body = self.message(user_id, "")
        body.pop("text")
        body["voice"] = {"file_id": file_id, "file_unique_id": unique, "duration": 3,
                         "mime_type": "audio/ogg", "file_size": 15}
        return body

    def sticker_message(self, user_id: int) -> dict[str, Any]:
        file_id, unique = self.add_file(b"RIFF-webp", "stickers/file")
        body = self.message(user_id, "")
        body.pop("text")
        body["sticker"] = {"file_id": file_id, "file_unique_id": unique, "type": "regular",
                           "width": 512, "height": 512, "is_animated": False, "is_video": False}
        return body

    def download(self, file_path: str) -> bytes | None:
        with self.cond:
            file_id = self.state.file_paths.get(file_path)
            self.state.downloads.append(file_path)
            self.cond.notify_all()
            return self.state.files.get(file_id) if file_id else None

    def edits(self, chat_id: int | None = None) -> list[Sent]:
        with self.cond:
            return [e for e in self.state.edits if chat_id is None or e.chat_id == chat_id]

    def message_now(self, chat_id: int, message_id: int) -> Sent | None:
        """A sent message as the phone shows it now (every accepted edit applied)."""
        with self.cond:
            return self.state.current.get((chat_id, message_id))

    # --- feeding updates ------------------------------------------------------------------

    def push_update(self, body: dict[str, Any]) -> int:
        with self.cond:
            update_id = next(self._update_ids)
            self.state.updates.append({"update_id": update_id, **body})
            self.state.pushed_at[update_id] = time.perf_counter()
            self.cond.notify_all()
        return update_id

    def user(self, user_id: int, name: str = "Owner") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name}

    def chat(self, chat_id: int, chat_type: str = "private") -> dict[str, Any]:
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": "Owner"}
        return {"id": chat_id, "type": chat_type, "title": "A group"}

    def message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        reply_to: dict[str, Any] | None = None,
        forwarded_from: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id if chat_id is not None else user_id, chat_type),
            "from": self.user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if reply_to is not None:
            body["reply_to_message"] = reply_to
        if forwarded_from is not None:
            body["forward_origin"] = {"type": "user", "date": int(time.time()) - 60,
                                      "sender_user": self.user(forwarded_from, "Someone")}
        return body

    def push_message(self, user_id: int, text: str, **kwargs: Any) -> int:
        return self.push_update({"message": self.message(user_id, text, **kwargs)})

    def push_edited(self, user_id: int, text: str) -> int:
        body = self.message(user_id, text)
        body["edit_date"] = int(time.time())
        return self.push_update({"edited_message": body})

    def push_callback(self, user_id: int, data: str, message: dict[str, Any] | None = None) -> int:
        """A button press on `message` (a message the bot sent, as `sent_message()` returns)."""
        message = message or self.bot_message(user_id, "a message with buttons")
        return self.push_update({"callback_query": {
            "id": str(next(self._callback_ids)),
            "from": self.user(user_id),
            "chat_instance": "fake-instance",
            "data": data,
            "message": message,
        }})

    def bot_message(self, chat_id: int, text: str, message_id: int | None = None) -> dict[str, Any]:
        return {
            "message_id": message_id if message_id is not None else next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "nightshift",
                     "username": BOT_USERNAME},
            "text": text,
        }

    def sent_message(self, sent: Sent) -> dict[str, Any]:
        """The message dict Telegram would attach to a callback on `sent`."""
        body = self.bot_message(sent.chat_id, sent.text, sent.message_id)
        if sent.reply_markup is not None and "inline_keyboard" in sent.reply_markup:
            body["reply_markup"] = sent.reply_markup  # messages carry only inline keyboards
        return body

    # --- misbehaving ----------------------------------------------------------------------

    def fail(self, kind: str, *, method: str | None = None, times: int | None = 1,
             retry_after: int = 1, description: str = "") -> None:
        with self.cond:
            self.state.faults.append(Fault(method, kind, times, retry_after, description))

    def heal(self) -> None:
        """Drop every fault and answer stalled requests (with 502: they were lost)."""
        with self.cond:
            self.state.faults.clear()
            self.cond.notify_all()
        self._release.set()
        self._release = threading.Event()

    def _fault_for(self, method: str) -> Fault | None:
        if method == "getUpdates":
            return None
        for fault in self.state.faults:
            if fault.method in (None, method):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.state.faults.remove(fault)
                return fault
        return None

    # --- inspecting -----------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self.cond:
            return [c for c in self.state.calls if method is None or c.method == method]

    def sent(self, chat_id: int | None = None) -> list[Sent]:
        with self.cond:
            return [s for s in self.state.sent if chat_id is None or s.chat_id == chat_id]

    def pushed_at(self, update_id: int) -> float:
        with self.cond:
            return self.state.pushed_at[update_id]

    def confirmed(self, update_id: int) -> bool:
        """Has the client asked for updates past this one (so it will not get it again)?"""
        with self.cond:
            return all(u["update_id"] != update_id for u in self.state.updates)

    async def wait_for(self, predicate: Callable[[FakeTelegram], T], timeout_s: float = 10.0,
                       what: str = "condition") -> T:
        """Wait until `predicate(self)` is truthy (re-checked on every recorded call)."""

        def wait() -> T:
            result: list[T] = []

            def check() -> bool:
                value = predicate(self)
                if value:
                    result.append(value)
                return bool(value)

            with self.cond:
                if not self.cond.wait_for(check, timeout_s):
                    recent = [(c.method, c.status) for c in self.state.calls[-8:]]
                    raise TimeoutError(f"fake Telegram: {what} not met within {timeout_s}s;"
                                       f" last calls {recent}")
            return result[0]

        return await asyncio.to_thread(wait)

    async def wait_sent(self, chat_id: int, count: int = 1, timeout_s: float = 10.0,
                        after: int = 0) -> list[Sent]:
        """The first `count` messages sent to `chat_id` after the first `after` of them."""

        def enough(fake: FakeTelegram) -> list[Sent] | None:
            messages = [s for s in fake.state.sent if s.chat_id == chat_id][after:]
            return messages[:count] if len(messages) >= count else None

        return await self.wait_for(enough, timeout_s, f"{count} message(s) to {chat_id}")

    # --- answering (server threads) -------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:
        call = Call(method, params, files, time.perf_counter())
        with self.cond:
            self.state.calls.append(call)
            fault = self._fault_for(method)
            self.cond.notify_all()
        if fault is not None:
            status, body = self._misbehave(fault, call)
        elif method == "getUpdates":
            status, body = 200, self._get_updates(params)
        else:
            status, body = self._answer(method, params, files)
        with self.cond:
            call.status = status
            self.cond.notify_all()
        return status, body

    def _misbehave(self, fault: Fault, call: Call) -> tuple[int, Any]:
        if fault.kind == "429":
            return 429, {"ok": False, "error_code": 429,
                         "description": f"Too Many Requests: retry after {fault.retry_after}",
                         "parameters": {"retry_after": fault.retry_after}}
        if fault.kind == "stall":
            with self.cond:
                call.status = 0
                self.cond.notify_all()
            self._release.wait(timeout=30)
            return 502, b"<html><body>502 Bad Gateway</body></html>"
        if fault.kind == "502":
            return 502, b"<html><body>502 Bad Gateway</body></html>"
        code = int(fault.kind)
        return code, {"ok": False, "error_code": code,
                      "description": fault.description or f"error {code}"}

    def _get_updates(self, params: dict[str, Any]) -> dict[str, Any]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        with self.cond:
            if offset:
                self.state.updates = [u for u in self.state.updates if u["update_id"] >= offset]
                self.cond.notify_all()
            while True:
                ready = [u for u in self.state.updates if u["update_id"] >= offset][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing:
                    return {"ok": True, "result": ready}
                self.cond.wait(remaining)

    def _answer(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, Any]:
        def ok(result: Any) -> tuple[int, Any]:
            return 200, {"ok": True, "result": result}

        if method == "getMe":
            return ok({"id": BOT_ID, "is_bot": True, "first_name": "nightshift",
                       "username": BOT_USERNAME, "can_join_groups": True,
                       "can_read_all_group_messages": False, "supports_inline_queries": False})
        if method in ("deleteWebhook", "setMyCommands", "answerCallbackQuery", "sendChatAction",
                      "close", "logOut", "setWebhook"):
            return ok(True)
        if method in SENDING:
            return ok(self._record_sent(method, params, files))
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._edit(method, params)
        if method == "getFile":
            file_id = str(params.get("file_id") or "")
            with self.cond:
                data = self.state.files.get(file_id)
                path = self._file_path(file_id)
            if data is None or path is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            return ok({"file_id": file_id, "file_unique_id": file_id, "file_size": len(data),
                       "file_path": path})
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _edit(self, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        """Edit a message in place; like Telegram, an edit that changes nothing is a 400."""
        chat_id = int(params.get("chat_id") or 0)
        message_id = int(params.get("message_id") or 0)
        markup = params.get("reply_markup")
        markup = markup if isinstance(markup, dict) else None
        with self.cond:
            old = self.state.current.get((chat_id, message_id))
            if old is not None:
                text = str(params["text"]) if method == "editMessageText" else old.text
                parse_mode = params.get("parse_mode") if method == "editMessageText" else old.parse_mode
                if text == old.text and markup == old.reply_markup:
                    return 400, {"ok": False, "error_code": 400, "description":
                                 "Bad Request: message is not modified: specified new message content"
                                 " and reply markup are exactly the same"}
                new = Sent(old.method, chat_id, message_id, text, parse_mode, markup, old.file,
                           old.filename, time.perf_counter())
                self.state.current[(chat_id, message_id)] = new
            else:  # a message this fake never sent (a test's made-up one): accepted as is
                new = Sent("sendMessage", chat_id, message_id, str(params.get("text") or ""),
                           params.get("parse_mode"), markup, None, None, time.perf_counter())
            self.state.edits.append(new)
            self.cond.notify_all()
        body = self.bot_message(chat_id, new.text, message_id)
        if markup:
            body["reply_markup"] = markup
        return 200, {"ok": True, "result": body}

    def _record_sent(self, method: str, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids)
        text = str(params.get("text") or params.get("caption") or "")
        field_name = {"sendPhoto": "photo", "sendDocument": "document"}.get(method)
        data = filename = None
        if field_name is not None:
            data = files.get(field_name)
            filename = params.get(f"{field_name}__filename")
        body = self.bot_message(chat_id, text, message_id)
        if method != "sendMessage":
            body.pop("text")
            if text:
                body["caption"] = text
            file_id = f"file-{message_id}"
            if data is not None:
                self.state.files[file_id] = data
            if method == "sendPhoto":
                body["photo"] = [{"file_id": file_id, "file_unique_id": file_id, "width": 1000,
                                  "height": 625, "file_size": len(data or b"")}]
            else:
                body["document"] = {"file_id": file_id, "file_unique_id": file_id,
                                    "file_name": filename or "file", "file_size": len(data or b"")}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            body["reply_markup"] = markup
        sent = Sent(method, chat_id, message_id, text, params.get("parse_mode"),
                    markup if isinstance(markup, dict) else None, data, filename,
                    time.perf_counter())
        with self.cond:
            self.state.sent.append(sent)
            self.state.current[(chat_id, message_id)] = sent
            self.cond.notify_all()
        return body


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeTelegram
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms on Linux), which would swamp every latency measured.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read the recorded calls instead

    def do_GET(self) -> None:
        fake = self.server_fake
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        prefix = f"/file/bot{fake.token}/"
        if path.startswith("/file/"):
            data = fake.download(path[len(prefix):]) if path.startswith(prefix) else None
            with contextlib.suppress(OSError):
                if data is None:
                    self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
            return
        self.do_POST()

    def do_POST(self) -> None:
        fake = self.server_fake
        path = urllib.parse.urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        prefix = f"/bot{fake.token}/"
        if not path.startswith(prefix):
            self._send(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        params, files = _parse_body(self.headers.get("Content-Type") or "", raw)
        status, body = fake.handle(path[len(prefix):], params, files)
        # The client may have given up (a stalled request timed out, or polling stopped).
        with contextlib.suppress(OSError):
            self._send(status, body)

    def _send(self, status: int, body: Any) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        kind = "text/html" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _decode(name: str, value: str) -> Any:
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_body(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                files[str(name)] = payload
                params[f"{name}__filename"] = filename
            else:
                params[str(name)] = _decode(str(name), payload.decode())
        # PTB sends a file as `attach://<name>` in the field and the bytes in a part.
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                attached = value.removeprefix("attach://")
                if attached in files:
                    files[key] = files[attached]
                    params[f"{key}__filename"] = params.get(f"{attached}__filename")
        return params, files
    fields = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
    return {k: _decode(k, v[-1]) for k, v in fields.items()}, {}
