//! `shell` and `run` in the real sandbox hand the call's idempotency key
//! to the program they start, and only that call's.

mod common;

use baton_tools::CallInfo;
use common::Env;
use serde_json::json;

const RUN: &str = "0191d2c4-7f3a-7c1e-9a2b-3c4d5e6f7a8b";

#[tokio::test]
async fn shell_sees_the_calls_idempotency_key() {
    let env = Env::new();
    let call = CallInfo::new(RUN, "call_7");
    let args = json!({"command": "echo \"key=$BATON_IDEMPOTENCY_KEY\""});
    let out = env.call_as(&call, "shell", args.clone()).await.unwrap();
    assert!(out.text.starts_with("exit 0"), "{}", out.text);
    assert!(
        out.text.contains(&format!("key=baton-{RUN}-call_7\n")),
        "{}",
        out.text
    );

    // The same call again (a resumed run re-issuing its id): the same key.
    let again = env
        .call_as(&CallInfo::new(RUN, "call_7"), "shell", args.clone())
        .await
        .unwrap();
    assert_eq!(again.text, out.text);

    // Another call of the run: another key.
    let other = env
        .call_as(&CallInfo::new(RUN, "call_8"), "shell", args)
        .await
        .unwrap();
    assert!(
        other.text.contains(&format!("key=baton-{RUN}-call_8\n")),
        "{}",
        other.text
    );
}

#[tokio::test]
async fn run_sees_the_calls_idempotency_key() {
    let env = Env::new();
    let call = CallInfo::new(RUN, "text-3-1");
    let code = "import os\nprint('key=' + os.environ['BATON_IDEMPOTENCY_KEY'])";
    let out = env
        .call_as(&call, "run", json!({"code": code}))
        .await
        .unwrap();
    assert!(out.text.starts_with("exit 0"), "{}", out.text);
    assert!(
        out.text.contains(&format!("key=baton-{RUN}-text-3-1\n")),
        "{}",
        out.text
    );
}
