//! Anthropic Messages spoken natively: what goes on the wire, and what
//! comes back, whole and streamed.

use baton_config::ProviderKind;
use baton_core::{FinishReason, Message, Role, ToolCall, ToolSpec, Usage};
use baton_testkit::{ScriptedServer, ServerOptions, Step, Wire};
use serde_json::json;

use crate::common::*;

fn claude(srv: &ScriptedServer) -> baton_config::ProviderConfig {
    let mut p = with_key(
        provider(
            "claude",
            ProviderKind::Anthropic,
            &srv.anthropic_base(),
            &["claude-x"],
        ),
        "sk-ant-test",
    );
    p.models[0].max_output_tokens = Some(2048);
    p
}

fn conversation() -> baton_core::ChatRequest {
    baton_core::ChatRequest {
        model: "claude/claude-x".into(),
        messages: vec![
            Message::system("You are terse."),
            Message::user("weather in Oslo?"),
            Message {
                role: Role::Assistant,
                content: None,
                tool_calls: vec![ToolCall {
                    id: "toolu_1".into(),
                    name: "weather".into(),
                    arguments: "{\"city\":\"Oslo\"}".into(),
                }],
                tool_call_id: None,
                name: None,
            },
            Message {
                role: Role::Tool,
                content: Some("rain, 4°C".into()),
                tool_calls: vec![],
                tool_call_id: Some("toolu_1".into()),
                name: None,
            },
            Message::user("and tomorrow?"),
        ],
        tools: vec![ToolSpec {
            name: "weather".into(),
            description: Some("current weather".into()),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }],
        ..baton_core::ChatRequest::default()
    }
}

#[tokio::test]
async fn anthropic_request_maps_system_tools_and_turns() {
    let srv = ScriptedServer::start_with(ServerOptions {
        require_api_key: Some("sk-ant-test".into()),
        ..ServerOptions::default()
    })
    .await;
    srv.push(Step::text("Sunny.").usage(30, 2));
    let gw = gateway(&[claude(&srv)], &config()).await;

    let r = gw.chat(&conversation()).await.unwrap().value;
    assert_eq!(r.message.text(), "Sunny.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 30,
            completion_tokens: 2
        }
    );

    let sent = &srv.requests()[0];
    assert_eq!(sent.wire, Wire::Anthropic);
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    let body = &sent.body;
    assert_eq!(body["model"], "claude-x");
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        body["max_tokens"], 2048,
        "from the declared max_output_tokens"
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "weather", "description": "current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "weather in Oslo?"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain, 4°C"},
                {"type": "text", "text": "and tomorrow?"}]}
        ])
    );
}

#[tokio::test]
async fn anthropic_stream_of_text() {
    let srv = ScriptedServer::start().await;
    srv.push(Step::text("It will rain again").chunks(3).usage(12, 3));
    let gw = gateway(&[claude(&srv)], &config()).await;

    let routed = gw.chat_stream(&conversation()).await.unwrap();
    let (events, r) = complete(routed.value).await;
    assert!(
        events.len() >= 5,
        "three text events, usage, done: {events:?}"
    );
    assert_eq!(r.message.text(), "It will rain again");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 12,
            completion_tokens: 3
        }
    );
    assert_eq!(r.model, "claude-x");
    assert_eq!(srv.requests()[0].body["stream"], true);
}

#[tokio::test]
async fn anthropic_tool_use_whole_and_streamed() {
    let srv = ScriptedServer::start().await;
    srv.push(Step::tool_call("weather", json!({"city": "Bergen"})));
    srv.push(Step::tool_call("weather", json!({"city": "Tromsø"})).chunks(5));
    let gw = gateway(&[claude(&srv)], &config()).await;
    let mut req = conversation();
    req.tool_choice = Some(json!({"type": "function", "function": {"name": "weather"}}));

    let whole = gw.chat(&req).await.unwrap().value;
    assert_eq!(whole.finish_reason, FinishReason::ToolCalls);
    assert_eq!(whole.message.tool_calls[0].name, "weather");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&whole.message.tool_calls[0].arguments).unwrap(),
        json!({"city": "Bergen"})
    );
    assert_eq!(
        srv.requests()[0].body["tool_choice"],
        json!({"type": "tool", "name": "weather"})
    );

    let (_, streamed) = complete(gw.chat_stream(&req).await.unwrap().value).await;
    assert_eq!(streamed.finish_reason, FinishReason::ToolCalls);
    let call = &streamed.message.tool_calls[0];
    assert!(call.id.starts_with("toolu_"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&call.arguments).unwrap(),
        json!({"city": "Tromsø"})
    );
}

#[tokio::test]
async fn anthropic_max_tokens_defaults_when_undeclared() {
    let srv = ScriptedServer::start().await;
    let gw = gateway(
        &[provider(
            "claude",
            ProviderKind::Anthropic,
            &srv.anthropic_base(),
            &["c"],
        )],
        &config(),
    )
    .await;
    gw.chat(&ask("c", "hi")).await.unwrap();
    let mut req = ask("c", "hi");
    req.max_tokens = Some(99);
    gw.chat(&req).await.unwrap();
    let sent = srv.requests();
    assert_eq!(sent[0].body["max_tokens"], 4096);
    assert_eq!(sent[1].body["max_tokens"], 99);
}
