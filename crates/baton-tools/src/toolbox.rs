//! The set of tools one agent may use, in a stable order (the order the
//! model sees them in), with names that cannot clash.

use std::collections::HashMap;
use std::sync::Arc;

use crate::edit::EditTool;
use baton_sandbox::Sandbox;

use crate::exec::{Run, Shell};
use crate::git::GitTool;
use crate::list::ListTool;
use crate::read::ReadTool;
use crate::search::SearchTool;
use crate::tool::Tool;
use crate::write::WriteTool;

/// A second tool under a name already taken.
#[derive(Debug, thiserror::Error)]
#[error("a tool named `{name}` is already registered")]
pub struct DuplicateTool {
    pub name: String,
}

/// An ordered name → tool map.
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: Vec<Arc<dyn Tool>>,
    index: HashMap<String, usize>,
}

impl std::fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Toolbox {
        Toolbox::default()
    }

    /// The built-in tools: search, read, write, edit, list, and the ones
    /// that run programs (git, shell, run) in `sandbox`.
    pub fn builtin(sandbox: Arc<Sandbox>) -> Toolbox {
        let mut toolbox = Toolbox::new();
        let tools: [Arc<dyn Tool>; 8] = [
            Arc::new(SearchTool),
            Arc::new(ReadTool),
            Arc::new(WriteTool),
            Arc::new(EditTool),
            Arc::new(ListTool),
            Arc::new(GitTool::new(sandbox.clone())),
            Arc::new(Shell::new(sandbox.clone())),
            Arc::new(Run::new(sandbox)),
        ];
        for tool in tools {
            toolbox
                .register(tool)
                .expect("the built-in tools have distinct names");
        }
        toolbox
    }

    /// Adds `tool` at the end, refusing a name already taken.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<(), DuplicateTool> {
        let name = tool.spec().name;
        if self.index.contains_key(&name) {
            return Err(DuplicateTool { name });
        }
        self.index.insert(name, self.tools.len());
        self.tools.push(tool);
        Ok(())
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.index.get(name).map(|&i| Arc::clone(&self.tools[i]))
    }

    /// Every tool's spec, in registration order, for the model's request.
    pub fn specs(&self) -> Vec<baton_core::ToolSpec> {
        self.tools.iter().map(|t| t.spec()).collect()
    }

    /// The tool names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.tools.iter().map(|t| t.spec().name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_eight_tools_in_order() {
        let toolbox = Toolbox::builtin(Arc::new(Sandbox::probe()));
        assert_eq!(
            toolbox.names(),
            [
                "search", "read", "write", "edit", "list", "git", "shell", "run"
            ]
        );
        assert!(toolbox.get("read").is_some());
        assert!(toolbox.get("bash").is_none());
        for spec in toolbox.specs() {
            assert_eq!(spec.parameters["type"], "object", "{}", spec.name);
            assert_eq!(
                spec.parameters["additionalProperties"], false,
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn a_duplicate_name_is_refused() {
        let mut toolbox = Toolbox::builtin(Arc::new(Sandbox::probe()));
        let err = toolbox.register(Arc::new(ReadTool)).unwrap_err();
        assert_eq!(err.to_string(), "a tool named `read` is already registered");
    }
}
