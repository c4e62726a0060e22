"""Every generated bad video-status / video-stats input (one defect each) is rejected with exactly its reason."""

from hypothesis import given, settings

from forgood.domain.errors import InvalidEvent
from forgood.domain.video_events import STATS_REASONS, STATUS_REASONS, parse_video_stats, parse_video_status
from tests.support.badinputs_status_stats import one_of_each_stats, one_of_each_status


def _rejected_with_its_reason(parse, items) -> None:
    for raw, reason in items:
        try:
            parse(raw)
        except InvalidEvent as exc:
            assert exc.reason == reason, (raw[:120], exc.message)
        else:
            raise AssertionError(f"accepted a {reason} input: {raw[:120]!r}")


@settings(max_examples=100, deadline=None)
@given(one_of_each_status(STATUS_REASONS))
def test_each_bad_status_input_class_gets_its_own_reason(items):
    assert {reason for _, reason in items} == set(STATUS_REASONS)
    _rejected_with_its_reason(parse_video_status, items)


@settings(max_examples=100, deadline=None)
@given(one_of_each_stats(STATS_REASONS))
def test_each_bad_stats_input_class_gets_its_own_reason(items):
    assert {reason for _, reason in items} == set(STATS_REASONS)
    _rejected_with_its_reason(parse_video_stats, items)
