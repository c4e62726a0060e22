"""The OpenAPI 3.1 description of the counter service (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Campaign id, as in the campaigns file.",
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
    "example": "red-nose-day-2026",
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

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "enum": ["bad_request", "not_found", "method_not_allowed", "not_ready"]},
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
        "version": "1.1.0",
        "description": "Read-only, public API of `forgood serve`: the live counters of every campaign "
        "(videos made, participants, money raised, videos removed, views, likes, shares and comments) "
        "with push updates as Server-Sent Events. "
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
                "summary": "One campaign's counters",
                "parameters": [_ID],
                "responses": {
                    "200": {"description": "The campaign.", "headers": _JSON_HEADERS,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Campaign"}}}},
                    "304": {"description": "Not modified (If-None-Match matched the ETag)."},
                    "400": _error("Malformed campaign id."),
                    "404": _error("No such campaign."),
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
