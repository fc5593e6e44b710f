//! The store test suite. Every case in `cases` runs once on SQLite (a file
//! in a temporary directory) and once on PostgreSQL (a database of its own,
//! created for the case and dropped after it), so both backends are held to
//! the same behaviour. PostgreSQL cases need `BATON_TEST_DATABASE_URL`
//! (see `scripts/test-postgres.sh`); without it they report a skip and
//! pass, unless `BATON_REQUIRE_POSTGRES=1`.

mod cases;
mod fixtures;
mod harness;
mod only_postgres;
mod only_sqlite;

/// Declares one test per case per backend: `sqlite::<case>` and
/// `postgres::<case>`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::harness::on_sqlite(crate::cases::$case).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::harness::on_postgres(stringify!($case), crate::cases::$case).await;
                }
            )*
        }
    };
}

on_both_backends!(
    workflow_diamond_runs_to_completion_in_order,
    workflow_stale_epoch_changes_nothing,
    workflow_failures_retry_with_backoff_then_fail_the_run,
    workflow_fail_without_retry_fails_at_once,
    workflow_reaper_fails_a_task_out_of_attempts,
    workflow_heartbeat_renews_every_lease_of_a_worker,
    workflow_claims_follow_priority_and_queues,
    workflow_queue_limit_caps_concurrent_claims,
    workflow_approval_waits_for_a_person,
    workflow_cancel_fences_holders_and_refuses_ended_runs,
    workflow_resume_keeps_finished_work,
    workflow_concurrent_workers_complete_each_task_once,
    workflow_release_and_run_filter,
    workflow_list_pages_runs_of_one_millisecond,
    workflow_batch_completion_keeps_each_runs_order,
    workflow_reap_fails_a_run_once,
    workflow_prune_deletes_only_runs_ended_before_the_cutoff,
    workflow_completion_refills_the_slot_with_a_ready_task,
    workflow_successors_of_limited_or_unserved_queues_are_released,
    workflow_completion_recovers_from_a_cut_connection,
    workflow_unreadable_task_fails_its_run_not_every_claim,
    workflow_created_run_is_stored_as_reported,
    migrations_are_idempotent_on_reopen,
    ping_reports_backend,
    device_state_upserts_newer_stamp_wins,
    device_state_refuses_nul,
    sessions_round_trip_and_conflict,
    append_keeps_session_order_and_bumps_session_and_device,
    session_messages_returns_the_last_n_oldest_first,
    append_to_unknown_session_writes_nothing,
    re_append_is_idempotent,
    batch_creates_sessions_with_their_messages,
    large_batch_mixes_new_and_existing_sessions,
    append_refuses_out_of_range_numbers,
    device_history_pages_have_no_gaps_or_duplicates,
    device_history_clamps_limit,
    bad_cursor_is_invalid_input,
    concurrent_appenders_get_contiguous_seq,
    unicode_and_large_content_round_trip,
    records_survive_reopen,
    writer_group_commits_concurrent_submitters,
    writer_isolates_a_failing_submission,
    writer_close_drains_and_refuses_more,
    writer_commits_survive_reopen,
    writer_linger_ends_for_urgent_and_close,
    runs_round_trip_and_end_once,
    tool_call_intents_never_run_twice,
    approvals_are_answered_once,
    session_log_chains_entries_per_workspace,
    concurrent_log_appenders_keep_one_chain,
    document_versions_number_changes_only,
    memories_dedupe_search_and_forget,
);
