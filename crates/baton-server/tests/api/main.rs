//! The HTTP API end to end: a real server on a loopback port, in front of
//! the scripted model server, on SQLite and on PostgreSQL.

mod agent;
mod app;
mod cases;
mod continuity;
mod mcp;
mod workflow;

/// Declares each case once per store backend.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = baton_testkit::TestDatabase::sqlite().await;
                    crate::cases::$case(crate::app::TestApp::start(&db, Default::default()).await).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = baton_testkit::TestDatabase::postgres(stringify!($case)).await else {
                        return;
                    };
                    crate::cases::$case(crate::app::TestApp::start(&db, Default::default()).await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    health_reports_store_and_providers,
    chat_replies_and_continues_the_session,
    chat_stream_sends_tokens_then_done,
    chat_refuses_bad_input_with_clear_errors,
    chat_falls_back_when_the_first_model_fails,
    upstream_client_error_is_not_retried,
    devices_report_state_and_page_history,
    openai_completion_non_stream,
    openai_completion_stream_with_usage,
    openai_tool_calls_pass_through,
    openai_session_header_groups_calls,
    openai_refuses_bad_input,
    models_are_listed,
    memory_log_gets_every_message,
    unknown_routes_and_methods_are_json_errors,
    agent_uses_tools_and_completes,
    agent_asks_and_http_answers,
    agent_refuses_dangerous_calls_and_goes_on,
    agent_stops_when_stuck,
    agent_stops_at_max_steps,
    agent_speaks_the_text_protocol,
    agent_goal_check_keeps_it_going,
    agent_refuses_bad_requests,
    agent_never_runs_a_call_id_twice,
    agent_contains_injected_attacks,
    agent_stops_when_the_token_budget_is_spent,
    agent_stops_when_cost_or_time_run_out,
    agent_sub_run_is_bounded_by_its_parent,
    agent_starts_from_the_handoff_and_leaves_its_entry,
    context_is_assembled_within_budget_inside_the_workspace,
    memories_are_remembered_recalled_and_forgotten,
    chat_in_a_workspace_starts_from_its_context,
    mcp_serves_continuity_tools_and_tiers,
    workflow_runs_a_given_plan_to_completion,
    workflow_events_resume_without_loss_or_repeat,
    workflow_plans_a_description_with_the_model,
    workflow_websocket_sends_status_updates_then_completion,
    workflow_refuses_bad_input,
    workflow_cancel_stops_a_run_and_resume_finishes_it,
    workflow_approval_waits_for_a_decision,
);

mod auth;
mod openapi;
