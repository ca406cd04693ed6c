"""The learning loop's store (core/improve/storage.py) on both adapters.

These are the scenario tests of tests/improve/test_learning.py, imported so that they run
here with this folder's parametrized `store`: they cover every statement ImproveStore has
(upserts, the minutes between two timestamps, open time ranges) through real scenarios.
"""

from tests.improve.test_learning import (  # noqa: F401
    test_adjustments_can_be_switched_off,
    test_done_tasks_teach_estimates_and_the_error_is_tracked,
    test_recurring_fixture_failures_become_a_lesson_with_evidence_links,
    test_style_stats_count_successes_and_ignore_limits,
    test_the_owner_decides_and_rewords_by_editing_the_note,
    test_timeouts_of_a_tag_raise_its_time_limit_for_the_executor,
)
