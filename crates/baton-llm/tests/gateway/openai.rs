//! OpenAI-compatible providers: whole and streamed answers, tools, usage,
//! pass-through fields, authentication and model listing.

use baton_core::{FinishReason, Message, Role, StreamEvent, ToolCall, ToolSpec, Usage};
use baton_testkit::{ScriptedServer, ServerOptions, Step, Wire};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn openai_whole_answer() {
    let srv = ScriptedServer::start().await;
    srv.push(Step::text("hello world").usage(5, 2));
    let gw = gateway(&[openai("local", &srv.openai_base(), &["m1"])], &config()).await;

    let routed = gw.chat(&ask("local/m1", "hi")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "local/m1");
    assert!(routed.attempts.is_empty());
    let r = routed.value;
    assert_eq!(r.message.text(), "hello world");
    assert_eq!(r.message.role, Role::Assistant);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 5,
            completion_tokens: 2
        }
    );
    assert_eq!(r.model, "m1");

    let req = &srv.requests()[0];
    assert_eq!(req.wire, Wire::OpenAi);
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.model, "m1", "the upstream gets its own model name");
    assert_eq!(req.body["stream"], false);
    assert_eq!(
        req.body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_eq!(req.header("authorization"), None, "no key, no auth header");
}

#[tokio::test]
async fn openai_stream_in_order_with_usage() {
    let srv = ScriptedServer::start().await;
    srv.push(Step::text("one two three four").chunks(4).usage(3, 4));
    let gw = gateway(&[openai("local", &srv.openai_base(), &["m1"])], &config()).await;

    let routed = gw.chat_stream(&ask("m1", "go")).await.unwrap();
    assert_eq!(routed.model.id.to_string(), "local/m1");
    let (events, response) = complete(routed.value).await;
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 4);
    assert_eq!(texts.concat(), "one two three four");
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Usage {
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 4
            }
        }
    );
    assert!(matches!(
        events[n - 1],
        StreamEvent::Done {
            finish_reason: FinishReason::Stop,
            ..
        }
    ));
    assert_eq!(response.model, "m1");

    let body = &srv.requests()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn openai_tools_both_ways() {
    let srv = ScriptedServer::start().await;
    srv.push(Step::tool_call("search", json!({"q": "rust"})));
    srv.push(Step::tool_call("search", json!({"q": "tokio"})).chunks(4));
    let gw = gateway(&[openai("local", &srv.openai_base(), &["m1"])], &config()).await;

    let mut req = ask("m1", "look it up");
    req.tools = vec![ToolSpec {
        name: "search".into(),
        description: Some("search the web".into()),
        parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
    }];
    req.tool_choice = Some(json!("auto"));

    let whole = gw.chat(&req).await.unwrap().value;
    assert_eq!(whole.finish_reason, FinishReason::ToolCalls);
    let call = &whole.message.tool_calls[0];
    assert_eq!(call.name, "search");
    assert!(!call.id.is_empty());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&call.arguments).unwrap(),
        json!({"q": "rust"})
    );

    let (_, streamed) = complete(gw.chat_stream(&req).await.unwrap().value).await;
    assert_eq!(streamed.finish_reason, FinishReason::ToolCalls);
    assert_eq!(streamed.message.tool_calls[0].name, "search");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&streamed.message.tool_calls[0].arguments)
            .unwrap(),
        json!({"q": "tokio"})
    );

    let sent = &srv.requests()[0].body;
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "function": {"name": "search", "description": "search the web",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}])
    );
    assert_eq!(sent["tool_choice"], "auto");

    // The assistant's call and the tool's answer go back in OpenAI's shape.
    let mut follow_up = req.clone();
    follow_up.messages.push(Message {
        role: Role::Assistant,
        content: None,
        tool_calls: vec![ToolCall {
            id: call.id.clone(),
            name: "search".into(),
            arguments: call.arguments.clone(),
        }],
        tool_call_id: None,
        name: None,
    });
    follow_up.messages.push(Message {
        role: Role::Tool,
        content: Some("found it".into()),
        tool_calls: vec![],
        tool_call_id: Some(call.id.clone()),
        name: None,
    });
    let answer = gw.chat(&follow_up).await.unwrap().value;
    assert_eq!(answer.message.text(), "echo: look it up");
    let sent = &srv.requests()[2].body["messages"];
    assert_eq!(
        sent[1],
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": call.id, "type": "function",
            "function": {"name": "search", "arguments": call.arguments}}]})
    );
    assert_eq!(
        sent[2],
        json!({"role": "tool", "content": "found it", "tool_call_id": call.id})
    );
}

#[tokio::test]
async fn openai_extra_fields_pass_through_and_key_is_sent() {
    let srv = ScriptedServer::start_with(ServerOptions {
        require_api_key: Some("sk-local".into()),
        ..ServerOptions::default()
    })
    .await;
    let mut p = with_key(openai("local", &srv.openai_base(), &["m1"]), "sk-local");
    p.headers
        .insert("x-team".into(), baton_config::Secret::new("blue"));
    let gw = gateway(&[p], &config()).await;

    let mut req = ask("m1", "hi");
    req.extra.insert("seed".into(), json!(42));
    req.extra
        .insert("response_format".into(), json!({"type": "json_object"}));
    req.temperature = Some(0.2);
    req.max_tokens = Some(64);
    req.stop = vec!["\n\n".into()];
    gw.chat(&req).await.unwrap();

    let sent = &srv.requests()[0];
    assert_eq!(sent.header("authorization"), Some("Bearer sk-local"));
    assert_eq!(sent.header("x-team"), Some("blue"));
    assert_eq!(sent.body["seed"], 42);
    assert_eq!(sent.body["response_format"], json!({"type": "json_object"}));
    assert_eq!(sent.body["temperature"], 0.2);
    assert_eq!(sent.body["max_tokens"], 64);
    assert_eq!(sent.body["stop"], json!(["\n\n"]));
}

#[tokio::test]
async fn openai_provider_without_models_lists_them_at_start() {
    let srv = ScriptedServer::start_with(ServerOptions {
        models: vec!["qwen-7b".into(), "llama-8b".into()],
        ..ServerOptions::default()
    })
    .await;
    let gw = gateway(&[openai("vllm", &srv.openai_base(), &[])], &config()).await;
    let ids: Vec<String> = gw.models().iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, ["vllm/llama-8b", "vllm/qwen-7b"], "sorted by id");
    let unknown = &gw.models()[0];
    assert_eq!(unknown.context_window, baton_llm::UNKNOWN_CONTEXT_WINDOW);
    assert_eq!(unknown.pricing, baton_core::Pricing::default());
    assert_eq!(
        gw.resolve("auto").unwrap().id.to_string(),
        "vllm/qwen-7b",
        "first listed"
    );
}

#[tokio::test]
async fn openai_keeps_connections_alive_between_calls() {
    let srv = ScriptedServer::start().await;
    let gw = gateway(&[openai("local", &srv.openai_base(), &["m1"])], &config()).await;
    for i in 0..5 {
        srv.push(Step::text("one two three").chunks(3));
        let routed = gw.chat_stream(&ask("m1", "go")).await.unwrap();
        let (_, response) = complete(routed.value).await;
        assert_eq!(response.message.text(), "one two three", "stream {i}");
        srv.push(Step::text("whole"));
        let whole = gw.chat(&ask("m1", "go")).await.unwrap();
        assert_eq!(whole.value.message.text(), "whole", "answer {i}");
    }
    assert_eq!(
        srv.connections_accepted(),
        1,
        "one connection served all ten calls"
    );
}
