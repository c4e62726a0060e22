"""The HTTP side of ``forgood serve``: JSON API, Server-Sent Events and the counter pages.

:func:`make_app` builds an aiohttp application over a :class:`~serve.state.CounterState`;
the counters are answered from that in-memory state, so tests drive it with one. The two
per-video answers — ``GET /api/campaigns/{id}/videos/{video_id}`` ("did my video count?")
and the ``top_videos`` of ``GET /api/campaigns/{id}`` — are read from ClickHouse through a
:class:`~forgood.serve.videos.VideoReader` (bounded waits; 503 / the last list when
ClickHouse cannot answer); without one the lookup answers 503 and ``top_videos`` is null.
Read-only: GET/HEAD (and OPTIONS for CORS pre-flights); every other method is a 405.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import fields
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from forgood.domain.events import MAX_ID_LENGTH
from forgood.serve.openapi import OPENAPI
from forgood.serve.state import CAMPAIGN_ID, CounterState
from forgood.serve.videos import NO_TOP_VIDEOS, ClickHouseUnavailable, VideoReader

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATE_KEY = web.AppKey("state", CounterState)
HEARTBEAT_KEY = web.AppKey("heartbeat_s", float)
PAGES_KEY = web.AppKey("pages", dict)
FRAMES_KEY = web.AppKey("frames", dict)
VIDEOS_KEY = web.AppKey("videos", VideoReader)

#: JSON answers may be cached this long (seconds): counters move, so keep it short.
JSON_MAX_AGE = 1
ALLOWED = "GET, HEAD, OPTIONS"
_ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 503: "not_ready"}


class ApiError(Exception):
    """An HTTP error the middleware answers as ``{"error": ..., "message": ...}``; ``code``
    (the ``error`` field) defaults to the status's usual one."""

    def __init__(self, status: int, message: str, headers: dict | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code


def error_response(status: int, message: str, headers: dict | None = None, code: str | None = None) -> web.Response:
    code = code or _ERROR_CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")
    return web.Response(status=status, body=orjson.dumps({"error": code, "message": message}),
                        content_type="application/json", headers={"Cache-Control": "no-store", **(headers or {})})


def _state(request: web.Request) -> CounterState:
    """The state, once it holds the initial load (503 ``not_ready`` before)."""
    state = request.app[STATE_KEY]
    if not state.ready:
        raise ApiError(503, "loading the initial state; retry in a moment", {"Retry-After": "1"})
    return state


def _campaign_id(request: web.Request) -> str:
    cid = request.match_info["id"]
    if not CAMPAIGN_ID.fullmatch(cid):
        raise ApiError(400, f"malformed campaign id {cid!r}: ids match ^[a-z0-9][a-z0-9_-]{{0,63}}$")
    if cid not in _state(request):
        raise ApiError(404, f"no campaign {cid!r}")
    return cid


def json_response(request: web.Request, payload: object, *, max_age: int = JSON_MAX_AGE,
                  status: int = 200) -> web.Response:
    """JSON with a short max-age and a strong ETag; 304 when If-None-Match matches."""
    body = orjson.dumps(payload)
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"Cache-Control": f"public, max-age={max_age}" if max_age else "no-store", "ETag": etag}
    if status == 200 and etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


# --- JSON ------------------------------------------------------------------------------------

async def list_campaigns(request: web.Request) -> web.Response:
    return json_response(request, {"campaigns": _state(request).views()})


async def get_campaign(request: web.Request) -> web.Response:
    """The campaign's counters (as listed) plus ``top_videos`` and ``top_videos_as_of``: its
    most-viewed counted videos, read from ClickHouse at most ``TOP_TTL_S`` ago (the counters
    are answered even when ClickHouse is not: the last list read, or null)."""
    cid = _campaign_id(request)
    reader = request.app.get(VIDEOS_KEY)
    top = NO_TOP_VIDEOS if reader is None else await reader.top(cid)
    view = _state(request).view(cid)  # after the read: the newest counters
    if view is None:  # removed since the check
        raise ApiError(404, f"no campaign {cid!r}")
    return json_response(request, {**{f.name: getattr(view, f.name) for f in fields(view)}, **top.to_json()})


def _video_id(request: web.Request) -> str:
    """The percent-decoded ``{video_id}`` of the path (a ``/`` in an id comes as ``%2F``):
    400 when it does not decode to UTF-8 or is longer than event ids may be."""
    raw = request.rel_url.raw_path.rsplit("/", 1)[-1]
    try:
        video_id = unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, f"malformed video id {raw[:40]!r}: it is not UTF-8 once percent-decoded") from None
    if not 1 <= len(video_id) <= MAX_ID_LENGTH:
        raise ApiError(400, f"malformed video id: {len(video_id)} characters long; video ids have 1 to "
                            f"{MAX_ID_LENGTH}")
    return video_id


async def get_video(request: web.Request) -> web.Response:
    """Did a video count for a campaign? Its status in the campaign's audit trail (``unknown``
    when the campaign never saw it); 404 for an unknown campaign, 503 when ClickHouse cannot
    answer within the reader's timeout."""
    cid = _campaign_id(request)
    video_id = _video_id(request)
    reader = request.app.get(VIDEOS_KEY)
    if reader is None:
        raise ApiError(503, "video lookups need ClickHouse, which this service was not given",
                       code="unavailable")
    try:
        found = await reader.lookup(cid, video_id)
    except ClickHouseUnavailable as exc:
        raise ApiError(503, f"cannot look the video up: {exc}", {"Retry-After": "5"}, code="unavailable") from None
    return json_response(request, found.to_json())


async def openapi(request: web.Request) -> web.Response:
    return json_response(request, {**OPENAPI, "servers": [{"url": f"{request.scheme}://{request.host}"}]},
                         max_age=300)


async def healthz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    age = None if state.last_record_at is None else round(state.clock() - state.last_record_at, 3)
    body = {
        "status": "ok" if state.ready else "starting",
        "campaigns": len(state.ids()),
        "following": state.following,
        "clients": len(state.subscribers),
        "last_record_age_s": age,
    }
    return json_response(request, body, max_age=0, status=200 if state.ready else 503)


async def preflight(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={
        "Allow": ALLOWED,
        "Access-Control-Allow-Methods": ALLOWED,
        "Access-Control-Allow-Headers": "Last-Event-ID, If-None-Match, Cache-Control",
        "Access-Control-Max-Age": "86400",
    })


# --- Server-Sent Events ----------------------------------------------------------------------

def sse_frame(event: str, data: object, event_id: int | str | None = None) -> bytes:
    """One SSE frame: ``event:``, optional ``id:``, one ``data:`` line (compact JSON), blank line."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def update_frame(app: web.Application, campaign_id: str) -> bytes:
    """The ``update`` (or ``removed``) frame of a campaign, rendered once per change and minute
    however many clients receive it."""
    state = app[STATE_KEY]
    key = (state.revisions.get(campaign_id, 0), int(state.clock()) // 60)
    cached = app[FRAMES_KEY].get(campaign_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    view = state.view(campaign_id)
    frame = sse_frame("removed", {"id": campaign_id}) if view is None else sse_frame("update", view, view.version)
    app[FRAMES_KEY][campaign_id] = (key, frame)
    return frame


async def campaign_events(request: web.Request) -> web.StreamResponse:
    return await _stream(request, _campaign_id(request))


async def all_events(request: web.Request) -> web.StreamResponse:
    _state(request)
    return await _stream(request, None)


async def _stream(request: web.Request, campaign_id: str | None) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    heartbeat = request.app[HEARTBEAT_KEY]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })
    subscriber = state.subscribe(campaign_id)  # before the snapshot: no change falls in between
    try:
        # The snapshot is taken before the response starts (no await since the 404 check in
        # _campaign_id), so a campaign removed in between is still answered 404, not a stream.
        if campaign_id is None:
            first = sse_frame("snapshot", {"campaigns": state.views()})
        else:
            view = state.view(campaign_id)
            if view is None:
                raise ApiError(404, f"no campaign {campaign_id!r}")
            first = sse_frame("snapshot", view, view.version)
        await response.prepare(request)
        await response.write(b"retry: 2000\n" + first)
        while True:  # close() wakes the subscriber, so a closed one leaves at once
            try:
                await asyncio.wait_for(subscriber.wake.wait(), timeout=heartbeat)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if subscriber.closed:
                break
            frames = [update_frame(request.app, cid) for cid in subscriber.take()]
            if frames:
                await response.write(b"".join(frames))
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away
    finally:
        state.unsubscribe(subscriber)
    return response


# --- pages -----------------------------------------------------------------------------------

def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        if "id" in request.match_info and not CAMPAIGN_ID.fullmatch(request.match_info["id"]):
            raise web.HTTPNotFound()
        return web.Response(body=request.app[PAGES_KEY][name], content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-cache"})
    return handler


# --- middleware and headers ------------------------------------------------------------------

@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API paths answer errors as JSON; pages get a short text error."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.headers, exc.code)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        headers = {}
        if exc.status_code == 405:
            headers["Allow"] = ALLOWED
            message = f"{request.method} is not allowed: this API is read-only (allowed: {ALLOWED})"
        elif exc.status_code == 404:
            message = f"no such path {request.path!r}"
        else:
            message = exc.reason
        if request.path.startswith("/api/") or request.path == "/healthz":
            return error_response(exc.status_code, message, headers)
        return web.Response(status=exc.status_code, text=f"{exc.status_code} {exc.reason}: {message}\n",
                            headers=headers)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """CORS for everything (the API is public), no sniffing, and cache rules for static files."""
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=300")


def make_app(state: CounterState, *, heartbeat_s: float = 15.0, static_dir: Path = STATIC,
             videos: VideoReader | None = None) -> web.Application:
    """The aiohttp application for ``state``; ``videos`` reads the per-video answers (closed
    with the application)."""
    app = web.Application(middlewares=[json_errors])
    app[STATE_KEY] = state
    if videos is not None:
        app[VIDEOS_KEY] = videos
    app[HEARTBEAT_KEY] = heartbeat_s
    app[FRAMES_KEY] = {}
    app[PAGES_KEY] = {name: (static_dir / f"{name}.html").read_bytes() for name in ("index", "campaign", "embed")}
    r = app.router
    for path, handler in (
        ("/api/campaigns", list_campaigns),
        ("/api/campaigns/{id}", get_campaign),
        ("/api/campaigns/{id}/events", campaign_events),
        ("/api/campaigns/{id}/videos/{video_id}", get_video),
        ("/api/events", all_events),
        ("/api/openapi.json", openapi),
    ):
        r.add_get(path, handler, allow_head=not path.endswith("events"))  # no HEAD on endless streams
        r.add_route("OPTIONS", path, preflight)
    r.add_get("/healthz", healthz)
    r.add_get("/", _page("index"))
    r.add_get("/c/{id}", _page("campaign"))
    r.add_get("/embed/{id}", _page("embed"))
    r.add_static("/static/", static_dir, show_index=False)
    favicon = (static_dir / "favicon.svg").read_bytes()

    async def _favicon(request: web.Request) -> web.Response:
        return web.Response(body=favicon, content_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    r.add_get("/favicon.ico", _favicon)
    app.on_response_prepare.append(_common_headers)

    async def _close_streams(app: web.Application) -> None:
        state.close_subscribers()

    app.on_shutdown.append(_close_streams)
    if videos is not None:
        async def _close_videos(app: web.Application) -> None:
            videos.close()

        app.on_cleanup.append(_close_videos)
    return app
