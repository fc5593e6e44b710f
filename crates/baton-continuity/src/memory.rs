//! The memory manager: what baton remembers for a workspace (notes,
//! session-log entries, document sections, conversations), each with its
//! source, time and device, and hybrid recall: the store's full-text
//! ranking fused (reciprocal rank fusion) with the in-process vector
//! index's nearest neighbours. Without an embedder, or when it fails,
//! memories are still kept and found by their words; their vectors are
//! made later ([`Memories::embed_missing`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use baton_core::log_chain::content_hash;
use baton_core::{DeviceId, Hlc, wall_millis};
use baton_store::{Memory, MemoryVector, NewMemory, Store};
use serde::Serialize;
use tokio::sync::RwLock;
use tracing::warn;

use crate::embedder::Embedder;
use crate::error::ContinuityError;
use crate::fusion::fuse;
use crate::session_log::workspace_key;
use crate::vector_index::{VectorIndex, normalize};
use baton_core::head;

/// The largest memory kept, in bytes of UTF-8.
pub const MAX_MEMORY_BYTES: usize = 64 * 1024;

/// The longest query, in bytes.
pub const MAX_QUERY_BYTES: usize = 4 * 1024;

/// The most memories one search returns.
pub const MAX_RESULTS: usize = 100;

/// Memories a search returns when the caller names no number.
pub const DEFAULT_RESULTS: usize = 10;

/// The most memories one call remembers.
pub const MAX_BATCH: usize = 10_000;

/// How much of a memory its vector is made from: embedding models read a
/// few hundred tokens at most, and the whole text stays searchable by word.
pub const EMBED_INPUT_BYTES: usize = 8 * 1024;

/// Candidates each ranking contributes to the fusion, at least.
const CANDIDATES: usize = 50;

/// Vectors read from the store per catch-up query.
const CATCH_UP_PAGE: u32 = 10_000;

/// On PostgreSQL a memory's `seq` is taken before its transaction commits,
/// so a smaller `seq` can appear after a larger one was read; catch-up
/// reads again this far back (already indexed ids are skipped).
const LATE_COMMIT_MARGIN: i64 = 256;

/// Where a memory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemorySource {
    /// Written on purpose (`baton memory add`, the MCP `remember` tool).
    Note,
    /// A `SESSION_LOG.md` entry.
    Log,
    /// A section of a handoff document.
    Document,
    /// An exchange of a conversation.
    Conversation,
}

impl MemorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            MemorySource::Note => "note",
            MemorySource::Log => "log",
            MemorySource::Document => "document",
            MemorySource::Conversation => "conversation",
        }
    }
}

/// Something to remember.
#[derive(Debug, Clone)]
pub struct NewMemoryText {
    pub source: MemorySource,
    /// What in the source: a log position, a document name, a session id.
    pub source_ref: Option<String>,
    pub content: String,
}

/// A remembered memory and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Remembered {
    #[serde(flatten)]
    pub memory: Memory,
    /// `false` when the workspace already held the same text.
    pub new: bool,
    /// Why it has no vector yet, when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_note: Option<String>,
}

/// One recalled memory.
#[derive(Debug, Clone, Serialize)]
pub struct Recalled {
    #[serde(flatten)]
    pub memory: Memory,
    /// The fused score (higher is better).
    pub score: f64,
    /// 1-based rank in the full-text ranking.
    pub text_rank: Option<usize>,
    /// 1-based rank in the vector ranking.
    pub vector_rank: Option<usize>,
    /// Cosine similarity to the query, when the vector part found it.
    pub similarity: Option<f32>,
}

/// What a search returns.
#[derive(Debug, Clone, Serialize)]
pub struct Recall {
    pub query: String,
    pub hits: Vec<Recalled>,
    /// The embedder the vector part used, when it ran.
    pub vector_model: Option<String>,
    /// Why the vector part did not run (no embedder, a failing endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector_note: Option<String>,
}

type IndexKey = (String, String);

/// The memory manager. Cheap to clone; clones share the indexes.
#[derive(Clone)]
pub struct Memories {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    embedder: Option<Embedder>,
    device: DeviceId,
    clock: Hlc,
    indexes: Mutex<HashMap<IndexKey, Arc<RwLock<Option<VectorIndex>>>>>,
}

impl Memories {
    /// `embedder` is `None` when memory runs on full text alone.
    pub fn new(store: Store, embedder: Option<Embedder>, device: DeviceId) -> Memories {
        Memories {
            inner: Arc::new(Inner {
                store,
                embedder,
                device,
                clock: Hlc::new(),
                indexes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The embedder's name, when there is one.
    pub fn embedder(&self) -> Option<String> {
        self.inner.embedder.as_ref().map(Embedder::name)
    }

    /// The device memories are stamped with (the configured default), which
    /// the faces that write beside them (MCP) stamp their records with too.
    pub fn device(&self) -> &DeviceId {
        &self.inner.device
    }

    /// Remembers one text.
    pub async fn remember(
        &self,
        workspace: &Path,
        new: NewMemoryText,
    ) -> Result<Remembered, ContinuityError> {
        let mut all = self.remember_all(workspace, vec![new]).await?;
        Ok(all.remove(0))
    }

    /// Remembers texts in one store transaction, with vectors made in
    /// batches first. A failing embedder does not lose them: they are kept
    /// without vectors and the reason is in each result.
    pub async fn remember_all(
        &self,
        workspace: &Path,
        items: Vec<NewMemoryText>,
    ) -> Result<Vec<Remembered>, ContinuityError> {
        let key = workspace_key(workspace)?;
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(ContinuityError::InvalidMemory(format!(
                "remember 1 to {MAX_BATCH} memories at a time, not {}",
                items.len()
            )));
        }
        for item in &items {
            check_memory(&item.content)?;
        }
        let texts: Vec<String> = items
            .iter()
            .map(|i| head(&i.content, EMBED_INPUT_BYTES).to_owned())
            .collect();
        let (vectors, note) = match self.vectors(texts).await {
            Ok(vectors) => (vectors, None),
            Err(note) => (Vec::new(), Some(note)),
        };
        let model = self.embedder();
        let ids: Vec<String> = items
            .iter()
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let hashes: Vec<String> = items.iter().map(|i| content_hash(&i.content)).collect();
        let now = wall_millis() as i64;
        let batch: Vec<NewMemory<'_>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| NewMemory {
                id: &ids[i],
                workspace: &key,
                source: item.source.as_str(),
                source_ref: item.source_ref.as_deref(),
                content: &item.content,
                hash: &hashes[i],
                embedding: match (&model, vectors.get(i)) {
                    (Some(model), Some(Some(values))) => Some(MemoryVector { model, values }),
                    _ => None,
                },
                device_id: &self.inner.device,
                hlc: self.inner.clock.now(),
                created_ms: now,
            })
            .collect();
        let stored = self.inner.store.insert_memories(&batch).await?;
        Ok(stored
            .into_iter()
            .enumerate()
            .map(|(i, (memory, new))| {
                let vector_note = match (&note, vectors.get(i)) {
                    (_, Some(Some(_))) => None,
                    (Some(note), _) => Some(note.clone()),
                    (None, Some(None)) => Some("the text has no direction to embed".to_owned()),
                    (None, None) => None,
                };
                Remembered {
                    memory,
                    new,
                    vector_note: vector_note.filter(|_| new),
                }
            })
            .collect())
    }

    /// The workspace's memories that best match `query`, at most `limit`
    /// (1 to [`MAX_RESULTS`]).
    pub async fn search(
        &self,
        workspace: &Path,
        query: &str,
        limit: usize,
    ) -> Result<Recall, ContinuityError> {
        let key = workspace_key(workspace)?;
        if query.trim().is_empty() || query.len() > MAX_QUERY_BYTES {
            return Err(ContinuityError::InvalidMemory(format!(
                "a memory query must be 1 to {MAX_QUERY_BYTES} bytes of text"
            )));
        }
        if !(1..=MAX_RESULTS).contains(&limit) {
            return Err(ContinuityError::InvalidMemory(format!(
                "a memory search returns 1 to {MAX_RESULTS} results, not {limit}"
            )));
        }
        let depth = CANDIDATES.max(4 * limit);
        let text = self
            .inner
            .store
            .search_memory_text(&key, query, depth as u32);
        let vector = self.nearest(&key, query, depth);
        let (text, vector) = tokio::join!(text, vector);
        let text = text?;
        let (neighbours, vector_model, vector_note) = match vector {
            Ok((model, neighbours)) => (neighbours, Some(model), None),
            Err(note) => (Vec::new(), None, Some(note)),
        };
        let vector_ids: Vec<String> = neighbours.iter().map(|n| n.0.clone()).collect();
        let similarity: HashMap<&str, f32> =
            neighbours.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        let fused = fuse(&text, &vector_ids);
        // Read a few more than asked: some may have been forgotten since.
        let wanted: Vec<String> = fused.iter().take(limit + 8).map(|f| f.id.clone()).collect();
        let memories: HashMap<String, Memory> = self
            .inner
            .store
            .memories(&wanted)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect();
        let hits = fused
            .into_iter()
            .filter_map(|f| {
                let memory = memories.get(&f.id)?.clone();
                Some(Recalled {
                    similarity: similarity.get(f.id.as_str()).copied(),
                    memory,
                    score: f.score,
                    text_rank: f.text_rank,
                    vector_rank: f.vector_rank,
                })
            })
            .take(limit)
            .collect();
        Ok(Recall {
            query: query.to_owned(),
            hits,
            vector_model,
            vector_note,
        })
    }

    /// Forgets a memory of the workspace; `false` when there was none.
    pub async fn forget(&self, workspace: &Path, id: &str) -> Result<bool, ContinuityError> {
        let key = workspace_key(workspace)?;
        let forgotten = self.inner.store.forget_memory(&key, id).await?;
        if let Some(model) = self.embedder() {
            let slot = self.index_slot(&key, &model);
            if let Some(index) = slot.write().await.as_mut() {
                index.remove(id);
            }
        }
        Ok(forgotten)
    }

    /// Makes vectors for up to `limit` of the workspace's memories that
    /// have none from the current embedder (kept while it failed, or made
    /// by another model). Returns how many got one.
    pub async fn embed_missing(
        &self,
        workspace: &Path,
        limit: u32,
    ) -> Result<usize, ContinuityError> {
        let key = workspace_key(workspace)?;
        let Some(model) = self.embedder() else {
            return Ok(0);
        };
        let pending = self
            .inner
            .store
            .memories_without_vector(&key, &model, limit)
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let texts = pending
            .iter()
            .map(|m| head(&m.content, EMBED_INPUT_BYTES).to_owned())
            .collect();
        let vectors = self
            .vectors(texts)
            .await
            .map_err(ContinuityError::Embedding)?;
        let mut done = 0;
        for (memory, vector) in pending.iter().zip(vectors) {
            if let Some(values) = vector {
                let vector = MemoryVector {
                    model: &model,
                    values: &values,
                };
                if self
                    .inner
                    .store
                    .set_memory_vector(&memory.id, vector)
                    .await?
                {
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    /// Unit vectors for `texts`, in batches; `None` for a text whose vector
    /// has no direction. The error is a note for the caller to pass on.
    async fn vectors(&self, texts: Vec<String>) -> Result<Vec<Option<Vec<f32>>>, String> {
        let Some(embedder) = &self.inner.embedder else {
            return Err("no embedder is configured ([memory] embedder)".to_owned());
        };
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(embedder.batch_size()) {
            let vectors = embedder.embed(chunk.to_vec()).await.map_err(|e| {
                warn!(embedder = %embedder.name(), error = %e, "embedding failed; memories keep their words only");
                format!("embedding failed: {e}")
            })?;
            if vectors.len() != chunk.len() {
                return Err(format!(
                    "embedding failed: {} vectors for {} texts",
                    vectors.len(),
                    chunk.len()
                ));
            }
            out.extend(
                vectors
                    .into_iter()
                    .map(|mut v| normalize(&mut v).then_some(v)),
            );
        }
        Ok(out)
    }

    /// The query's nearest memories by vector, with the model used; the
    /// error says why there is no vector part.
    async fn nearest(
        &self,
        key: &str,
        query: &str,
        depth: usize,
    ) -> Result<(String, Vec<(String, f32)>), String> {
        let model = self
            .embedder()
            .ok_or_else(|| "no embedder is configured ([memory] embedder)".to_owned())?;
        let mut vectors = self
            .vectors(vec![head(query, EMBED_INPUT_BYTES).to_owned()])
            .await?;
        let Some(Some(query)) = vectors.pop() else {
            return Err("the query has no direction to embed".to_owned());
        };
        let slot = self.index_slot(key, &model);
        self.catch_up(&slot, key, &model, query.len())
            .await
            .map_err(|e| format!("the vector index could not be read: {e}"))?;
        let guard = slot.read().await;
        let found = guard
            .as_ref()
            .map(|index| index.search(&query, depth))
            .unwrap_or_default();
        Ok((
            model,
            found.into_iter().map(|n| (n.id, n.similarity)).collect(),
        ))
    }

    fn index_slot(&self, key: &str, model: &str) -> Arc<RwLock<Option<VectorIndex>>> {
        let mut indexes = self.inner.indexes.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            indexes
                .entry((key.to_owned(), model.to_owned()))
                .or_default(),
        )
    }

    /// Brings the index up to what the store holds: reads every vector on
    /// first use (and when the embedder's width changed), then those set
    /// since it last looked.
    async fn catch_up(
        &self,
        slot: &RwLock<Option<VectorIndex>>,
        key: &str,
        model: &str,
        dimensions: usize,
    ) -> Result<(), ContinuityError> {
        let mut guard = slot.write().await;
        let rebuild = guard
            .as_ref()
            .is_none_or(|index| index.dimensions() != dimensions);
        if rebuild {
            let expected = self.inner.store.count_memories(key).await?;
            *guard = Some(VectorIndex::new(dimensions, expected as usize));
        }
        let index = guard.as_mut().expect("set above");
        let margin = match self.inner.store.backend() {
            baton_store::Backend::Postgres if index.seen() > 0 => LATE_COMMIT_MARGIN,
            _ => 0,
        };
        let mut after = index.seen() - margin;
        loop {
            let page = self
                .inner
                .store
                .memory_vectors_since(key, model, after, CATCH_UP_PAGE)
                .await?;
            let Some(last) = page.last().map(|v| v.seq) else {
                break;
            };
            let full = page.len() == CATCH_UP_PAGE as usize;
            let fresh = page
                .into_iter()
                .filter(|v| v.seq > index.seen() || !index.holds(&v.id))
                .filter_map(|mut v| normalize(&mut v.values).then_some((v.seq, v.id, v.values)))
                .collect();
            index.insert(fresh);
            after = last;
            if !full {
                break;
            }
        }
        Ok(())
    }
}

/// Refuses what cannot be a memory, before anything is stored.
fn check_memory(content: &str) -> Result<(), ContinuityError> {
    if content.trim().is_empty() {
        return Err(ContinuityError::InvalidMemory(
            "a memory needs some text".to_owned(),
        ));
    }
    if content.len() > MAX_MEMORY_BYTES {
        return Err(ContinuityError::InvalidMemory(format!(
            "a memory is at most {MAX_MEMORY_BYTES} bytes; this one is {} (split it)",
            content.len()
        )));
    }
    if content.contains('\0') {
        return Err(ContinuityError::InvalidMemory(
            "a memory must be text, not binary (it holds NUL bytes)".to_owned(),
        ));
    }
    Ok(())
}

/// A session's goal cut to what a memory query may hold.
pub(crate) fn clip_query(query: &str) -> &str {
    head(query, MAX_QUERY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_memories_are_named() {
        assert!(check_memory("  \n").is_err());
        assert!(
            check_memory("a\0b")
                .unwrap_err()
                .to_string()
                .contains("binary")
        );
        let huge = "x".repeat(MAX_MEMORY_BYTES + 1);
        assert!(
            check_memory(&huge)
                .unwrap_err()
                .to_string()
                .contains("split")
        );
        assert!(check_memory("fine").is_ok());
    }
}
