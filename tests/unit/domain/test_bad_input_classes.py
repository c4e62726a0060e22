"""Every generated bad input (one defect each) is rejected with exactly its reason."""

from hypothesis import given, settings

from forgood.domain.errors import InvalidEvent
from forgood.domain.events import REASONS, parse_video_created
from tests.support.badinputs import one_of_each


@settings(max_examples=100, deadline=None)
@given(one_of_each(REASONS))
def test_each_bad_input_class_gets_its_own_reason(items):
    assert {reason for _, reason in items} == set(REASONS)
    for raw, reason in items:
        try:
            parse_video_created(raw)
        except InvalidEvent as exc:
            assert exc.reason == reason, (raw[:120], exc.message)
        else:
            raise AssertionError(f"accepted a {reason} input: {raw[:120]!r}")
