//! Where memory vectors come from: the configured provider's embeddings
//! endpoint (through the gateway) or a local model on this machine, so that
//! memory also works offline.

use std::sync::Arc;

use baton_embed::LocalEmbedder;
use baton_llm::{Gateway, MAX_EMBEDDING_INPUTS};

/// Makes vectors for memories and queries.
#[derive(Clone)]
pub enum Embedder {
    /// `provider/model` through the gateway.
    Provider { gateway: Gateway, model: String },
    /// A sentence-embedding model loaded from a directory.
    Local(Arc<LocalEmbedder>),
}

impl Embedder {
    /// The name stored beside each vector: vectors of different names are
    /// never compared. `provider/model`, or `local:NAME@FINGERPRINT`.
    pub fn name(&self) -> String {
        match self {
            Embedder::Provider { model, .. } => model.clone(),
            Embedder::Local(local) => format!("local:{}@{}", local.name(), local.fingerprint()),
        }
    }

    /// How many texts one call takes.
    pub(crate) fn batch_size(&self) -> usize {
        match self {
            Embedder::Provider { .. } => MAX_EMBEDDING_INPUTS.min(64),
            Embedder::Local(_) => baton_embed::BATCH_SIZE,
        }
    }

    /// One vector per text, in order (not yet normalised).
    pub(crate) async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        match self {
            Embedder::Provider { gateway, model } => gateway
                .embed(model, &texts)
                .await
                .map(|answer| answer.vectors)
                .map_err(|e| e.to_string()),
            Embedder::Local(local) => {
                let local = Arc::clone(local);
                tokio::task::spawn_blocking(move || {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    local.embed(&refs)
                })
                .await
                .map_err(|e| format!("the local embedding model stopped: {e}"))?
                .map_err(|e| e.to_string())
            }
        }
    }
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Embedder").field(&self.name()).finish()
    }
}
