//! A real temporary workspace, a directory outside it holding a secret, and
//! a helper to call a built-in tool by name.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use baton_tools::{CallInfo, ToolContext, ToolError, ToolOutput, Toolbox, Workspace};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub outside: tempfile::TempDir,
    pub ctx: ToolContext,
    pub toolbox: Toolbox,
}

pub const SECRET: &str = "TOP-SECRET-OUTSIDE";

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
        let ctx = ToolContext::new(Workspace::open(dir.path()).unwrap());
        Env {
            dir,
            outside,
            ctx,
            toolbox: Toolbox::builtin(std::sync::Arc::new(baton_sandbox::Sandbox::probe())),
        }
    }

    pub fn root(&self) -> &Path {
        self.ctx.workspace.root()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub async fn call(&self, tool: &str, args: serde_json::Value) -> Result<ToolOutput, ToolError> {
        self.call_as(&CallInfo::new("test-run", "call-1"), tool, args)
            .await
    }

    /// A call carrying `call`'s idempotency key.
    pub async fn call_as(
        &self,
        call: &CallInfo,
        tool: &str,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let tool = self.toolbox.get(tool).expect("a built-in tool");
        tool.call(args, &self.ctx, call).await
    }
}

/// The reason of an `OutsideWorkspace` refusal, or a panic naming what came instead.
pub fn refusal(result: Result<ToolOutput, ToolError>) -> String {
    match result {
        Err(ToolError::OutsideWorkspace { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
