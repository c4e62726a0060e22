"""The OpenAPI 3.1 description of the counter service (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from forgood.audit.lookup import LOOKUP_STATUSES, TOP_LIMIT
from forgood.domain.events import MAX_ID_LENGTH
from forgood.serve.videos import TIMEOUT_S, TOP_TTL_S

_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Campaign id, as in the campaigns file.",
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
    "example": "red-nose-day-2026",
}

_VIDEO_ID = {
    "name": "video_id",
    "in": "path",
    "required": True,
    "description": f"The video's id as in its events (1 to {MAX_ID_LENGTH} characters), percent-encoded "
    "(a `/` in an id as `%2F`; `%` as `%25`). Not trimmed: the id must match exactly.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
    "example": "7291034478123",
}

_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_NUM = {"type": ["number", "null"]}

_CAMPAIGN = {
    "type": "object",
    "description": "A campaign's live counters. `videos`, `creators`, `removed`, `views`, `likes`, `shares`, "
    "`comments`, `donation_minor` and `currency` have the names and meanings of the ClickHouse view "
    "`campaign_totals`; `version` is the version of that row. Every count is exact and may go down as well as up "
    "(a removed video leaves `videos`, its creator's share of `creators`, the donation and the engagement sums; "
    "a restored one returns). Counts are 64-bit integers: parse them as such beyond 2^53.",
    "required": [
        "id", "name", "nonprofit", "videos", "creators", "removed", "views", "likes", "shares", "comments",
        "donation_minor", "currency", "raised",
        "donation_cap_minor", "goal_videos", "percent_of_cap", "percent_of_goal", "starts_at", "ends_at",
        "updated_at", "version", "videos_per_minute",
    ],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string", "description": "Display name (the id when the campaign is not defined)."},
        "nonprofit": _NULLABLE_STR,
        "hashtags": {"type": "array", "items": {"type": "string"}, "description": "Normalised hashtags, no '#'."},
        "url": _NULLABLE_STR,
        "description": _NULLABLE_STR,
        "videos": {"type": "integer", "minimum": 0,
                   "description": "Distinct videos counted: matched to the campaign and not removed."},
        "creators": {"type": "integer", "minimum": 0,
                     "description": "Distinct creators (participants) with at least one counted video."},
        "removed": {"type": "integer", "minimum": 0,
                    "description": "Videos matched to the campaign whose latest status is removed (taken down or "
                    "deleted; not counted, earning no donation until restored)."},
        "views": {"type": "integer", "minimum": 0, "example": 81_000_000,
                  "description": "Sum of the counted videos' views, each video's latest snapshot."},
        "likes": {"type": "integer", "minimum": 0, "description": "Sum of the counted videos' likes (latest)."},
        "shares": {"type": "integer", "minimum": 0, "description": "Sum of the counted videos' shares (latest)."},
        "comments": {"type": "integer", "minimum": 0,
                     "description": "Sum of the counted videos' comments (latest)."},
        "donation_minor": {"type": "integer", "minimum": 0,
                           "description": "Money raised in the currency's minor units (cents, pence; yen)."},
        "currency": {"type": "string", "description": "ISO 4217 code.", "example": "USD"},
        "currency_digits": {"type": "integer", "description": "Minor-unit digits of the currency (USD 2, JPY 0)."},
        "raised": {"type": "string", "description": "`donation_minor` formatted for people.", "example": "$1,234.56"},
        "donation_per_video_minor": _NULLABLE_INT,
        "donation_cap_minor": {**_NULLABLE_INT, "description": "Budget in minor units; null when uncapped."},
        "cap": {**_NULLABLE_STR, "description": "The cap formatted for people."},
        "goal_videos": _NULLABLE_INT,
        "percent_of_cap": {**_NULLABLE_NUM, "description": "100 × donation_minor / donation_cap_minor, 2 decimals."},
        "percent_of_goal": {**_NULLABLE_NUM, "description": "100 × videos / goal_videos, 2 decimals."},
        "starts_at": {**_NULLABLE_STR, "format": "date-time"},
        "ends_at": {**_NULLABLE_STR, "format": "date-time"},
        "status": {"type": ["string", "null"], "enum": ["upcoming", "live", "ended", None]},
        "updated_at": {**_NULLABLE_STR, "format": "date-time",
                       "description": "When the owner last published the totals; null before the first count."},
        "version": {"type": "integer", "minimum": 0,
                    "description": "Version (publication time in ns, a 64-bit integer) of the totals row; "
                    "0 before the first count. Treat as opaque in JavaScript (exceeds 2^53)."},
        "videos_per_minute": {
            "type": "array",
            "description": "Videos per event-time minute for the last 60 minutes, oldest first, current minute last.",
            "items": {
                "type": "object",
                "required": ["minute", "videos"],
                "properties": {"minute": {"type": "string", "format": "date-time"},
                               "videos": {"type": "integer", "minimum": 0}},
            },
        },
    },
}

_TOP_VIDEO = {
    "type": "object",
    "description": "A counted video of the campaign: its latest engagement snapshot and event-time minute. "
    "Counts are 64-bit integers.",
    "required": ["video_id", "views", "likes", "shares", "comments", "minute"],
    "properties": {
        "video_id": {"type": "string"},
        "views": {"type": "integer", "minimum": 0},
        "likes": {"type": "integer", "minimum": 0},
        "shares": {"type": "integer", "minimum": 0},
        "comments": {"type": "integer", "minimum": 0},
        "minute": {"type": "string", "format": "date-time",
                   "description": "Start of the minute the video was created in (UTC)."},
    },
    "example": {"video_id": "7291034478123", "views": 1_250_000, "likes": 98_000, "shares": 4_100,
                "comments": 2_300, "minute": "2026-11-24T19:00:00Z"},
}

_CAMPAIGN_DETAIL = {
    "description": "A campaign's counters (`Campaign`, as listed and pushed) and its top videos. The top videos are "
    "read from ClickHouse's `campaign_videos` (the audit trail the sink writes), not from the pushed counters: "
    f"the list is cached per campaign for {TOP_TTL_S:g} s and trails the counters by up to that plus the "
    "sink's flush interval. When ClickHouse cannot be read, the last list read is answered with its older "
    "`top_videos_as_of`, or null before any was read. Event streams do not carry the top videos: read them "
    "here again after an update.",
    "allOf": [
        {"$ref": "#/components/schemas/Campaign"},
        {
            "type": "object",
            "required": ["top_videos", "top_videos_as_of"],
            "properties": {
                "top_videos": {
                    "type": ["array", "null"], "maxItems": TOP_LIMIT,
                    "items": {"$ref": "#/components/schemas/TopVideo"},
                    "description": f"The {TOP_LIMIT} counted videos with the most views (latest snapshots), most "
                    "first; ties: more likes first, then video id ascending. Removed and outside-window videos "
                    "are never listed. Null when ClickHouse could not be read yet.",
                },
                "top_videos_as_of": {**_NULLABLE_STR, "format": "date-time",
                                     "description": "When `top_videos` was read from ClickHouse (UTC)."},
            },
        },
    ],
}


def _lookup_example(status: str, minute: str | None, status_at: str | None, reason: str | None) -> dict:
    return {"campaign_id": "red-nose-day-2026", "video_id": "7291034478123", "status": status, "minute": minute,
            "status_at": status_at, "reason": reason}


_LOOKUP_EXAMPLES = {
    "counted": {"summary": "Counted: matched, not removed, paid for",
                "value": _lookup_example("counted", "2026-11-24T19:00:00Z", "2026-11-24T19:00:42Z", None)},
    "restored": {"summary": "Counted again after a successful appeal",
                 "value": _lookup_example("counted", "2026-11-24T19:00:00Z", "2026-11-25T08:12:00Z", "appeal")},
    "removed": {"summary": "Removed: taken down, not counted, its donation given back",
                "value": _lookup_example("removed", "2026-11-24T19:00:00Z", "2026-11-24T21:30:05Z", "moderation")},
    "outside_window": {"summary": "Carried the hashtag but was created before the campaign started",
                       "value": _lookup_example("outside_window", "2026-10-31T23:59:00Z", "2026-10-31T23:59:40Z",
                                                "before_start")},
    "unknown": {"summary": "The campaign never saw this video id",
                "value": _lookup_example("unknown", None, None, None)},
}

_VIDEO_LOOKUP = {
    "type": "object",
    "description": "Did a video count for a campaign? The newest row of the campaign's audit trail "
    "(ClickHouse `campaign_videos`) for that video id. Never carries the creator id.",
    "required": ["campaign_id", "video_id", "status", "minute", "status_at", "reason"],
    "properties": {
        "campaign_id": {"type": "string"},
        "video_id": {"type": "string"},
        "status": {"type": "string", "enum": list(LOOKUP_STATUSES),
                   "description": "`counted`: matched and not removed (it earns the campaign's donation); "
                   "`removed`: matched, then taken down (not counted, no donation unless restored); "
                   "`outside_window`: carried one of the campaign's hashtags but was created outside the "
                   "campaign's window (never counted); `unknown`: the campaign has no such video — it never "
                   "carried the campaign's hashtags, has not been processed yet, or the id is wrong."},
        "minute": {**_NULLABLE_STR, "format": "date-time",
                   "description": "Start of the minute the video was created in (UTC); null when unknown."},
        "status_at": {**_NULLABLE_STR, "format": "date-time",
                      "description": "When the status was set: the latest status event's time, or the creation "
                      "time when there was none (UTC); null when unknown."},
        "reason": {**_NULLABLE_STR,
                   "enum": ["creator_deleted", "moderation", "fraud", "appeal", "other", "before_start",
                            "after_end", None],
                   "description": "Why: the latest status event's reason (a removal's; `appeal` for a restored "
                   "video), or `before_start` / `after_end` outside the window; null when there is none."},
    },
}

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string",
                  "enum": ["bad_request", "not_found", "method_not_allowed", "not_ready", "unavailable"],
                  "description": "`not_ready`: the service is still loading; `unavailable`: ClickHouse, which "
                  "video lookups read, cannot answer right now."},
        "message": {"type": "string"},
    },
    "example": {"error": "not_found", "message": "no campaign 'x'"},
}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _sse(description: str) -> dict:
    return {
        "description": description,
        "headers": {"Cache-Control": {"schema": {"type": "string", "const": "no-cache"}}},
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }


_JSON_HEADERS = {
    "Cache-Control": {"description": "`public, max-age=1`", "schema": {"type": "string"}},
    "ETag": {"description": "Strong validator of the body; send it back in If-None-Match for a 304.",
             "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {"schema": {"type": "string", "const": "*"}},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "forgood live campaign counters",
        "version": "1.2.0",
        "description": "Read-only, public API of `forgood serve`: the live counters of every campaign "
        "(videos made, participants, money raised, videos removed, views, likes, shares and comments) "
        "with push updates as Server-Sent Events, each campaign's top videos, and \"did my video count?\" "
        "lookups. "
        "Numbers come from the same versioned rows the ClickHouse sink writes, so once the pipeline has "
        "settled they equal `forgood.campaign_totals`. Every GET answer carries "
        "`Access-Control-Allow-Origin: *`; methods other than GET, HEAD and OPTIONS get 405.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "servers": [{"url": "http://127.0.0.1:8080"}],
    "paths": {
        "/api/campaigns": {
            "get": {
                "operationId": "listCampaigns",
                "summary": "Every campaign's counters",
                "responses": {
                    "200": {
                        "description": "All campaigns, sorted by id.",
                        "headers": _JSON_HEADERS,
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["campaigns"],
                            "properties": {"campaigns": {"type": "array",
                                                         "items": {"$ref": "#/components/schemas/Campaign"}}},
                        }}},
                    },
                    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                },
            }
        },
        "/api/campaigns/{id}": {
            "get": {
                "operationId": "getCampaign",
                "summary": "One campaign's counters and its top videos",
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "The campaign (as listed) with `top_videos` and `top_videos_as_of`.",
                            "headers": _JSON_HEADERS,
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/CampaignDetail"}}}},
                    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                    "400": _error("Malformed campaign id."),
                    "404": _error("No such campaign."),
                },
            }
        },
        "/api/campaigns/{id}/videos/{video_id}": {
            "get": {
                "operationId": "getVideo",
                "summary": "Did my video count?",
                "description": "The video's status for the campaign, read from ClickHouse's audit trail "
                "(`campaign_videos`) when asked: `counted`, `removed`, `outside_window`, or `unknown` when the "
                "campaign never saw the id. It reflects what the sink has written, so a video posted moments ago "
                "may be `unknown` for a few seconds. Never carries the creator id. The same answer as "
                "`forgood video CAMPAIGN VIDEO_ID`.",
                "parameters": [_ID, _VIDEO_ID],
                "responses": {
                    "200": {"description": "The video's status (`unknown` for a video the campaign never saw).",
                            "headers": _JSON_HEADERS,
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/VideoLookup"},
                                "examples": _LOOKUP_EXAMPLES}}},
                    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                    "400": _error(f"Malformed campaign id, or a video id that is not 1 to {MAX_ID_LENGTH} "
                                  "characters of UTF-8 once percent-decoded."),
                    "404": _error("No such campaign."),
                    "503": {**_error(f"ClickHouse did not answer within {TIMEOUT_S:g} s (`unavailable`; "
                                     "`Retry-After: 5`), or the service is still loading (`not_ready`)."),
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
                },
            }
        },
        "/api/campaigns/{id}/events": {
            "get": {
                "operationId": "streamCampaign",
                "summary": "Push updates of one campaign (Server-Sent Events)",
                "description": "First an `event: snapshot` whose data is the campaign (as GET /api/campaigns/{id}), "
                "then an `event: update` with the whole campaign each time it changes (changes that arrive "
                "together are coalesced). `id:` is the totals version. Comment lines (`: keep-alive`) are sent "
                "every 15 s of silence.",
                "parameters": [_ID],
                "responses": {"200": _sse("An endless event stream."),
                              "400": _error("Malformed campaign id."), "404": _error("No such campaign.")},
            }
        },
        "/api/events": {
            "get": {
                "operationId": "streamCampaigns",
                "summary": "Push updates of every campaign (Server-Sent Events)",
                "description": "First an `event: snapshot` whose data is `{\"campaigns\": [...]}` (as GET "
                "/api/campaigns), then an `event: update` with one campaign each time it changes, or an "
                "`event: removed` with `{\"id\": ...}` when a campaign disappears.",
                "responses": {"200": _sse("An endless event stream.")},
            }
        },
        "/api/openapi.json": {
            "get": {"operationId": "openapi", "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}}}
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness and readiness",
                "responses": {
                    "200": {"description": "Initial state loaded; following the topics.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                    "503": {"description": "Still loading the initial state.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Campaign": _CAMPAIGN,
            "CampaignDetail": _CAMPAIGN_DETAIL,
            "TopVideo": _TOP_VIDEO,
            "VideoLookup": _VIDEO_LOOKUP,
            "Error": _ERROR,
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok", "starting"]},
                    "campaigns": {"type": "integer"},
                    "following": {"type": "boolean", "description": "Consuming the aggregate topics."},
                    "clients": {"type": "integer", "description": "Open event streams."},
                    "last_record_age_s": {"type": ["number", "null"]},
                },
            },
        }
    },
}
