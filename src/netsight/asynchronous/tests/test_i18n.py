"""The netsight.async domain: its .pot, its de, en and it translations, on the page."""

from netsight.asynchronous.i18n import _
from netsight.asynchronous.testing import NETSIGHT_ASYNC_FUNCTIONAL_TESTING
from netsight.asynchronous.tests.helpers.base import HeldJob
from netsight.asynchronous.tests.helpers.base import JobTestCase
from pathlib import Path
from zope.i18n import translate

import re


LOCALES = Path(__file__).parent.parent / "locales"
MSGIDS = {
    "state_scheduled",
    "scheduled_for",
    "setting_pool_size_help",
    "setting_pool_size",
    "setting_expiry_help",
    "setting_expiry",
    "setting_max_per_user_help",
    "setting_max_per_user",
    "setting_queue_limit_help",
    "setting_queue_limit",
    "queue_full_help",
    "queue_full",
    "Background processes",
    "all_processes",
    "all_processes_title",
    "all_states",
    "anonymous_owner",
    "back_to_form",
    "back_to_settings",
    "bad_start",
    "bad_start_missing",
    "bad_start_no_context",
    "bad_start_back_to_form",
    "bad_state",
    "cancel_button",
    "cancelling",
    "column_actions",
    "column_context",
    "column_instance",
    "column_message",
    "column_owner",
    "column_progress",
    "column_run_time",
    "column_started",
    "column_state",
    "connection_retrying",
    "controlpanel_description",
    "elapsed_time",
    "filter_button",
    "form_refused",
    "form_refused_help",
    "instance_settings",
    "instance_settings_help",
    "instance_unclaimed",
    "log_in_again",
    "my_processes",
    "my_processes_description",
    "no_processes",
    "no_processes_found",
    "no_such_process",
    "percentage_completion",
    "process_cancel_asked",
    "process_cancelled",
    "process_cancelled_now",
    "process_failed",
    "process_had_ended",
    "process_interrupted",
    "process_not_found",
    "process_removed",
    "process_restarted",
    "process_still_active",
    "processes_caption",
    "processing_title",
    "progress_label",
    "remove_button",
    "session_ended",
    "setting_poll_growth",
    "setting_poll_growth_help",
    "setting_poll_interval",
    "setting_poll_interval_help",
    "setting_poll_start",
    "setting_poll_start_help",
    "setting_progress_interval",
    "setting_progress_interval_help",
    "state_cancelled",
    "state_done",
    "state_failed",
    "state_interrupted",
    "state_queued",
    "state_running",
    "time_remaining",
    "waiting",
    "waiting_ahead",
    # The owner told of a job's end (issue 24, point 6): notices.pt, notify.py, progress.pt.
    "mail_ready_body",
    "mail_ready_subject",
    "notice_ready",
    "notice_see_result",
    "notify_button",
    "notify_done",
    "notify_ended",
    # A result can be seen again; My processes (issue 24, points 5 and 7).
    "result_shown",
    "result_shown_help",
    "setting_keep_result",
    "setting_keep_result_help",
    "state_shown",
    "state_kept",
    "all_processes_states",
    # The control panel: a setting's old name; the instances' maintenance errors (issue 25).
    "setting_old_name",
    "maintenance_errors",
    "maintenance_errors_none",
    "maintenance_errors_help",
    "maintenance_error_last",
    "periodic_jobs",
    "periodic_jobs_none",
    "periodic_view",
    "periodic_context",
    "periodic_when",
    "periodic_user",
    "periodic_last_run",
    "periodic_next_run",
    "periodic_problem",
    "periodic_every",
    "periodic_never",
    "process_timed_out",
    "state_timed_out",
    "already_running_someone_else",
    # The Retry button (issue 27, point 5)
    "retry_button",
    "retry_of_link",
    "retried_by_link",
    "attempt_n",
    "attempt_of",
    # Automatic retries (issue 27, point 5b)
    "attempt_failed",
    "attempt_failed_next_at",
    "process_retried",
    "process_not_retryable",
    "process_retry_already_running",
    "process_retry_queue_full",
    "restapi_retry_conflict",
    "restapi_retry_cross_site",
    # Named queues (issue 27, point 3)
    "waiting_for_worker_of",
    "waiting_for_worker_of_default",
    "queues_heading",
    "queues_help",
    "queues_this_instance",
    "queues_idle_note",
    "queues_every",
    "queues_none",
    "queues_unserved",
    "queue_waiting",
    "column_queue",
    "queue_of_process",
    # The lists: the job's title; the Managers' list's notices of values it cannot read
    "column_job",
    "bad_queue",
    "bad_page_size",
    "bad_batch_start",
    "bad_owner",
}


class TestTranslations(JobTestCase):
    layer = NETSIGHT_ASYNC_FUNCTIONAL_TESTING

    def test_the_catalogs_hold_every_message(self):
        for catalog in [LOCALES / "netsight.async.pot", *LOCALES.glob("*/LC_MESSAGES/netsight.async.po")]:
            self.assertEqual(set(re.findall(r'^msgid "(.+)"$', catalog.read_text(), re.M)), MSGIDS)
        self.assertEqual({path.parent.parent.name for path in LOCALES.glob("*/LC_MESSAGES/*.po")}, {"de", "en", "it"})

    def test_translated(self):
        progress = _("percentage_completion", default="${percentage}% completed...", mapping={"percentage": 40})
        for language, title, message in (
            ("en", "Processing...", "40% completed..."),
            ("de", "Wird verarbeitet...", "40% abgeschlossen..."),
            ("it", "Elaborazione in corso...", "40% completato..."),
        ):
            self.assertEqual(translate(_("processing_title"), target_language=language), title)
            self.assertEqual(translate(progress, target_language=language), message)

    def test_the_page_and_the_progress_message_in_the_users_language(self):
        self.browse_in("it")
        job = HeldJob(self, 40)
        job.reached()
        self.assertEqual(job.poll()["progress_message"], "40% completato...")
        self.browser.open(f"{job.url}/processing?process_id={job.process_id}")
        self.assertIn("<title>40% completato... — Progress — Plone site</title>", self.browser.text)
        self.assertIn(">Elaborazione in corso...</span>", self.browser.text)  # the spinner's name
        self.assertIn(">40% completato...</p>", self.browser.text)
