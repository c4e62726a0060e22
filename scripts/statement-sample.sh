#!/usr/bin/env bash
# Make the README's sample settlement statement (docs/statement-sample.png and .json) on the
# local stack, the way a finance team would get one:
#   1. in a namespace of its own (topics, consumer groups, ClickHouse database forgood_sample_*),
#      publish Red Nose Day with a $1,500 cap and three UTC days of videos (removals, restorations
#      and engagement snapshots among them), run the worker and the sink (`forgood run`);
#   2. wait until `forgood reconcile --from-source` agrees, then settle the first two days;
#   3. after the settlement: removals of already-paid videos (a credit), a cap raised by "alice",
#      more videos; wait for reconcile again, then the statement as of the end of day three:
#      PDF (first page rendered with pdftoppm) and JSON.
# Needs the local stack (`forgood stack up`) and `make` set-up; prints where the files went.
# Not part of the tests (tests/integration/test_audit_end_to_end.py proves the same figures).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FORGOOD=.venv/bin/forgood
OUT=${1:-docs}
mkdir -p "$OUT"
RID="sample$(date +%s)"
WORK=$(mktemp -d -t forgood-sample.XXXXXX)
base_url=$(.venv/bin/python -c 'from forgood.domain.settings import Settings; print(Settings().clickhouse_url.rsplit("/", 1)[0])')
export FORGOOD_TOPIC_PREFIX="$RID-" FORGOOD_APP_ID="forgood-$RID" FORGOOD_VIDEO_TOPIC="$RID-video-created" \
       FORGOOD_STATUS_TOPIC="$RID-video-status" FORGOOD_STATS_TOPIC="$RID-video-stats" \
       FORGOOD_CLICKHOUSE_URL="$base_url/forgood_$RID" FORGOOD_WORKER_METRICS_PORT=0 FORGOOD_SINK_METRICS_PORT=0 \
       FORGOOD_LOG_LEVEL=warning
# Day three ends at the start of today (UTC): every event is in the past.
TODAY=$(date -u +%Y-%m-%d)
export DAY1=$(date -u -d "$TODAY - 3 days" +%Y-%m-%dT00:00:00Z) DAY3=$(date -u -d "$TODAY - 1 day" +%Y-%m-%dT00:00:00Z)
export AS_OF=$(date -u -d "$TODAY" +%Y-%m-%dT00:00:00Z) PAID_UNTIL=$DAY3 WORK

campaign() {  # $1: cap
    cat >"$WORK/campaigns.yaml" <<EOF
campaigns:
  - id: red-nose-day-2026
    name: Red Nose Day
    nonprofit: Comic Relief
    hashtags: [RedNoseDay]
    donation_per_video: "2.00"
    currency: USD
    starts_at: $DAY1
    ends_at: 2027-01-01T00:00:00Z
    donation_cap: "$1"
    goal_videos: 1000
EOF
}

campaign 1500.00
$FORGOOD campaigns apply "$WORK/campaigns.yaml" --by "campaigns@comicrelief.example" >/dev/null
.venv/bin/python - <<'EOF'
"""Three days of events, written as JSON lines per topic and phase (seeded: the same files each run)."""
import json, os, random
from datetime import datetime, timedelta

rng = random.Random(14)
work, day1 = os.environ["WORK"], datetime.fromisoformat(os.environ["DAY1"])
paid_until = datetime.fromisoformat(os.environ["PAID_UNTIL"])
files = {name: open(f"{work}/{name}.jsonl", "w") for name in ("created", "status", "stats", "late-status", "late-created")}
z = lambda t: t.isoformat().replace("+00:00", "Z")
for n in range(900):
    at = day1 + timedelta(seconds=rng.randrange(3 * 86_400 - 3600))
    video = f"rnd-{n:04d}"
    tags = ["RedNoseDay", rng.choice(["fyp", "comedy", "charity"])]
    late = at >= paid_until and rng.random() < 0.3  # arrives after the settlement
    (files["late-created"] if late else files["created"]).write(json.dumps({
        "event_id": f"c-{n}", "video_id": video, "creator_id": f"creator-{rng.randrange(420)}", "hashtags": tags,
        "created_at": z(at)}) + "\n")
    if rng.random() < 0.05:
        removed = at + timedelta(minutes=rng.randint(5, 600))
        files["status"].write(json.dumps({"event_id": f"s-{n}", "video_id": video, "status": "removed",
                                          "reason": rng.choice(["moderation", "creator_deleted", "fraud"]),
                                          "at": z(removed)}) + "\n")
        if rng.random() < 0.3:
            files["status"].write(json.dumps({"event_id": f"r-{n}", "video_id": video, "status": "restored",
                                              "reason": "appeal", "at": z(removed + timedelta(hours=2))}) + "\n")
    elif at < paid_until and rng.random() < 0.03:  # taken down after it was paid for: a credit
        files["late-status"].write(json.dumps({"event_id": f"l-{n}", "video_id": video, "status": "removed",
                                               "reason": "moderation", "at": z(paid_until + timedelta(hours=5))}) + "\n")
    views = 0
    for k in range(rng.randint(0, 3)):
        views += int(rng.paretovariate(1.2) * 400)
        files["stats"].write(json.dumps({"event_id": f"t-{n}-{k}", "video_id": video, "views": views,
                                         "likes": views // 9, "shares": views // 70, "comments": views // 40,
                                         "observed_at": z(at + timedelta(hours=k + 1))}) + "\n")
for f in files.values():
    f.close()
EOF

$FORGOOD run >"$WORK/run.log" 2>&1 &
RUN=$!
trap 'kill $RUN 2>/dev/null; wait $RUN 2>/dev/null || true' EXIT
for topic in created status stats; do $FORGOOD produce --from "$WORK/$topic.jsonl" --topic "$topic" --quiet; done

agreed() {  # wait (bounded) until every figure in ClickHouse equals the recount from the source topics
    for _ in $(seq 1 120); do
        if $FORGOOD reconcile --from-source >"$WORK/reconcile.txt" 2>&1; then return 0; fi
        sleep 1
    done
    cat "$WORK/reconcile.txt" >&2
    echo "error: the pipeline did not agree with the source topics in 120 s (log: $WORK/run.log)" >&2
    exit 1
}

agreed
$FORGOOD settle red-nose-day-2026 --as-of "$PAID_UNTIL" --by "finance@comicrelief.example"
campaign 1600.00
$FORGOOD campaigns apply "$WORK/campaigns.yaml" --by alice >/dev/null
$FORGOOD produce --from "$WORK/late-status.jsonl" --topic status --quiet
$FORGOOD produce --from "$WORK/late-created.jsonl" --topic created --quiet
agreed
$FORGOOD reconcile --from-source
$FORGOOD statement red-nose-day-2026 --as-of "$AS_OF" --format json --out "$OUT/statement-sample.json"
$FORGOOD statement red-nose-day-2026 --as-of "$AS_OF" --format pdf --out "$WORK/statement.pdf"
pdftoppm -png -r 80 -f 1 -l 1 -singlefile "$WORK/statement.pdf" "$OUT/statement-sample"
$FORGOOD statement red-nose-day-2026 --as-of "$AS_OF"
echo "wrote $OUT/statement-sample.json and $OUT/statement-sample.png (PDF: $WORK/statement.pdf)"
