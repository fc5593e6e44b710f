//! Memories: what baton remembers for a workspace, each with its source,
//! time and device. The store keeps the text (searchable by full text: FTS5
//! on SQLite, a `tsvector` on PostgreSQL) and the vector; nearest-neighbour
//! search over the vectors happens in the continuity service's in-process
//! index, which reads them here by `seq`, the order in which vectors
//! changed.

use baton_core::{DeviceId, HlcStamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::rows::{check_text, device_id_column, hlc_column, hlc_from_column};
use crate::store::{Backends, BeginWrite, Store, on_pool};

/// The most words of a query the full-text search uses.
pub const MAX_QUERY_TERMS: usize = 32;

/// One stored memory (without its vector, which only the index reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub id: String,
    pub workspace: String,
    /// Where it came from: `note`, `log`, `document`, `conversation`.
    pub source: String,
    /// What in that source: a log position, a document name, a session id.
    pub source_ref: Option<String>,
    pub content: String,
    /// SHA-256 of `content`, lowercase hex; unique per workspace.
    pub hash: String,
    /// The model that made its vector; `None` while it has none.
    pub embedding_model: Option<String>,
    pub device_id: DeviceId,
    pub hlc: HlcStamp,
    pub created_ms: i64,
}

/// A vector and the model that made it: vectors of different models are
/// never compared.
#[derive(Debug, Clone, Copy)]
pub struct MemoryVector<'a> {
    pub model: &'a str,
    pub values: &'a [f32],
}

/// What a caller records; the store assigns `seq`.
#[derive(Debug, Clone)]
pub struct NewMemory<'a> {
    pub id: &'a str,
    pub workspace: &'a str,
    pub source: &'a str,
    pub source_ref: Option<&'a str>,
    pub content: &'a str,
    pub hash: &'a str,
    pub embedding: Option<MemoryVector<'a>>,
    pub device_id: &'a DeviceId,
    pub hlc: HlcStamp,
    pub created_ms: i64,
}

/// A vector as the index reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVector {
    /// Moves forward whenever the memory's vector is set.
    pub seq: i64,
    pub id: String,
    pub values: Vec<f32>,
}

#[derive(sqlx::FromRow)]
struct MemoryRow {
    id: String,
    workspace: String,
    source: String,
    source_ref: Option<String>,
    content: String,
    hash: String,
    embedding_model: Option<String>,
    device_id: String,
    hlc: i64,
    created_at: i64,
}

impl MemoryRow {
    fn into_memory(self) -> Result<Memory, StoreError> {
        Ok(Memory {
            device_id: device_id_column(&self.device_id)?,
            hlc: hlc_from_column(self.hlc)?,
            id: self.id,
            workspace: self.workspace,
            source: self.source,
            source_ref: self.source_ref,
            content: self.content,
            hash: self.hash,
            embedding_model: self.embedding_model,
            created_ms: self.created_at,
        })
    }
}

const COLUMNS: &str =
    "id, workspace, source, source_ref, content, hash, embedding_model, device_id, hlc, created_at";

/// English words too common to tell memories apart: PostgreSQL's
/// `english` configuration drops these (the Snowball list), and the query
/// builder drops them on both backends, so a question's "what", "is" and
/// "the" neither rank memories nor make SQLite score every row.
pub const STOPWORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

/// The words of a free-text query that full-text search looks for:
/// alphanumeric runs, lowercased, each once, without [`STOPWORDS`], at most
/// [`MAX_QUERY_TERMS`]. Nothing of the query's own syntax reaches the
/// database.
pub fn query_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in query.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() || word.len() > 64 {
            continue;
        }
        let word = word.to_lowercase();
        if STOPWORDS.contains(&word.as_str()) {
            continue;
        }
        if !terms.contains(&word) {
            terms.push(word);
        }
        if terms.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    terms
}

fn vector_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_values(bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::corrupt(format!(
            "a memory vector of {} bytes is not a list of f32",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn check_new(new: &NewMemory<'_>) -> Result<(), StoreError> {
    check_text("workspace", new.workspace)?;
    check_text("memory source", new.source)?;
    check_text("memory", new.content)?;
    if let Some(source_ref) = new.source_ref {
        check_text("memory source reference", source_ref)?;
    }
    if let Some(vector) = &new.embedding {
        check_vector(vector)?;
    }
    Ok(())
}

fn check_vector(vector: &MemoryVector<'_>) -> Result<(), StoreError> {
    check_text("embedding model", vector.model)?;
    if vector.values.is_empty() || vector.values.iter().any(|x| !x.is_finite()) {
        return Err(StoreError::InvalidInput(
            "a memory vector must be non-empty and finite".to_owned(),
        ));
    }
    Ok(())
}

impl Store {
    /// Stores memories in one transaction. A memory whose content the
    /// workspace already holds is not stored again; the stored one comes
    /// back instead, with `false`.
    pub async fn insert_memories(
        &self,
        batch: &[NewMemory<'_>],
    ) -> Result<Vec<(Memory, bool)>, StoreError> {
        for new in batch {
            check_new(new)?;
        }
        let rows = batch
            .iter()
            .map(|new| Ok((new, hlc_column(new.hlc)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let insert = format!(
            "INSERT INTO memories ({COLUMNS}, embedding) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (workspace, hash) DO NOTHING"
        );
        let existing = format!("SELECT {COLUMNS} FROM memories WHERE workspace = $1 AND hash = $2");
        let stored: Vec<Result<(Memory, bool), StoreError>> = on_pool!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut stored = Vec::with_capacity(rows.len());
            for (new, hlc) in &rows {
                let done = sqlx::query(&insert)
                    .bind(new.id)
                    .bind(new.workspace)
                    .bind(new.source)
                    .bind(new.source_ref)
                    .bind(new.content)
                    .bind(new.hash)
                    .bind(new.embedding.map(|v| v.model))
                    .bind(new.device_id.as_str())
                    .bind(hlc)
                    .bind(new.created_ms)
                    .bind(new.embedding.map(|v| vector_bytes(v.values)))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 1 {
                    stored.push(Ok((new_memory(new), true)));
                } else {
                    let row: MemoryRow = sqlx::query_as(&existing)
                        .bind(new.workspace)
                        .bind(new.hash)
                        .fetch_one(&mut *tx)
                        .await?;
                    stored.push(row.into_memory().map(|m| (m, false)));
                }
            }
            tx.commit().await?;
            stored
        });
        stored.into_iter().collect()
    }

    /// Gives a memory its vector (made later, or by another model); its
    /// `seq` moves forward so that indexes pick it up. `false` when no such
    /// memory exists.
    pub async fn set_memory_vector(
        &self,
        id: &str,
        vector: MemoryVector<'_>,
    ) -> Result<bool, StoreError> {
        check_vector(&vector)?;
        let bytes = vector_bytes(vector.values);
        let updated = match &self.backend {
            Backends::Sqlite(sqlite) => {
                let write = sqlite.writer().await;
                let mut tx = write.begin_write().await?;
                let next: i64 =
                    sqlx::query_scalar("SELECT coalesce(max(seq), 0) + 1 FROM memories")
                        .fetch_one(&mut *tx)
                        .await?;
                let done = sqlx::query(
                    "UPDATE memories SET embedding = $1, embedding_model = $2, seq = $3 WHERE id = $4",
                )
                .bind(&bytes)
                .bind(vector.model)
                .bind(next)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // AUTOINCREMENT hands out numbers above its own counter:
                // keep it past the moved row, or a deleted newest row's
                // number could be given again.
                sqlx::query(
                    "UPDATE sqlite_sequence SET seq = max(seq, $1) WHERE name = 'memories'",
                )
                .bind(next)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                done.rows_affected()
            }
            Backends::Postgres(pg) => sqlx::query(
                "UPDATE memories SET embedding = $1, embedding_model = $2, \
                 seq = nextval('memories_seq') WHERE id = $3",
            )
            .bind(&bytes)
            .bind(vector.model)
            .bind(id)
            .execute(pg.pool())
            .await?
            .rows_affected(),
        };
        Ok(updated == 1)
    }

    /// Memories by id, in the order asked; unknown ids are left out.
    pub async fn memories(&self, ids: &[String]) -> Result<Vec<Memory>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=ids.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {COLUMNS} FROM memories WHERE id IN ({placeholders})");
        let rows: Vec<MemoryRow> = on_pool!(self, read, |pool| {
            let mut query = sqlx::query_as(&sql);
            for id in ids {
                query = query.bind(id);
            }
            query.fetch_all(pool).await?
        });
        let mut found = rows
            .into_iter()
            .map(MemoryRow::into_memory)
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by_key(|m| ids.iter().position(|id| *id == m.id));
        Ok(found)
    }

    /// The workspace's newest memories first.
    pub async fn recent_memories(
        &self,
        workspace: &str,
        limit: u32,
    ) -> Result<Vec<Memory>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM memories WHERE workspace = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<MemoryRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(workspace)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(MemoryRow::into_memory).collect()
    }

    /// How many memories the workspace holds.
    pub async fn count_memories(&self, workspace: &str) -> Result<i64, StoreError> {
        Ok(on_pool!(self, read, |pool| {
            sqlx::query_scalar("SELECT count(*) FROM memories WHERE workspace = $1")
                .bind(workspace)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Deletes a memory of the workspace; `false` when there was none.
    pub async fn forget_memory(&self, workspace: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = on_pool!(self, write, |pool| {
            sqlx::query("DELETE FROM memories WHERE workspace = $1 AND id = $2")
                .bind(workspace)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted == 1)
    }

    /// The ids of the workspace's memories that best match the query's
    /// words (any of them), best first: BM25 on SQLite, `ts_rank` on
    /// PostgreSQL, both with English stemming.
    pub async fn search_memory_text(
        &self,
        workspace: &str,
        query: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let terms = query_terms(query);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let ids = match &self.backend {
            Backends::Sqlite(sqlite) => {
                let expression = terms
                    .iter()
                    .map(|t| format!("\"{t}\""))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                sqlx::query_scalar(
                    "SELECT m.id FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid \
                     WHERE memories_fts MATCH $1 AND m.workspace = $2 \
                     ORDER BY bm25(memories_fts) LIMIT $3",
                )
                .bind(expression)
                .bind(workspace)
                .bind(i64::from(limit))
                .fetch_all(sqlite.reader())
                .await?
            }
            Backends::Postgres(pg) => {
                sqlx::query_scalar(
                    "SELECT id FROM memories, to_tsquery('english', $1) query \
                     WHERE workspace = $2 AND content_tsv @@ query \
                     ORDER BY ts_rank(content_tsv, query) DESC, seq DESC LIMIT $3",
                )
                .bind(terms.join(" | "))
                .bind(workspace)
                .bind(i64::from(limit))
                .fetch_all(pg.pool())
                .await?
            }
        };
        Ok(ids)
    }

    /// The workspace's vectors made by `model` whose `seq` is above
    /// `after`, in `seq` order, at most `limit`.
    pub async fn memory_vectors_since(
        &self,
        workspace: &str,
        model: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredVector>, StoreError> {
        let rows: Vec<(i64, String, Vec<u8>)> = on_pool!(self, read, |pool| {
            sqlx::query_as(
                "SELECT seq, id, embedding FROM memories \
                 WHERE workspace = $1 AND embedding_model = $2 AND seq > $3 \
                 AND embedding IS NOT NULL ORDER BY seq LIMIT $4",
            )
            .bind(workspace)
            .bind(model)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(seq, id, bytes)| {
                Ok(StoredVector {
                    seq,
                    id,
                    values: vector_values(&bytes)?,
                })
            })
            .collect()
    }

    /// The workspace's memories without a vector from `model`, oldest
    /// first: what an embedder should (re)do.
    pub async fn memories_without_vector(
        &self,
        workspace: &str,
        model: &str,
        limit: u32,
    ) -> Result<Vec<Memory>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM memories WHERE workspace = $1 \
             AND (embedding_model IS NULL OR embedding_model <> $2) ORDER BY seq LIMIT $3"
        );
        let rows: Vec<MemoryRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(workspace)
                .bind(model)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(MemoryRow::into_memory).collect()
    }
}

fn new_memory(new: &NewMemory<'_>) -> Memory {
    Memory {
        id: new.id.to_owned(),
        workspace: new.workspace.to_owned(),
        source: new.source.to_owned(),
        source_ref: new.source_ref.map(str::to_owned),
        content: new.content.to_owned(),
        hash: new.hash.to_owned(),
        embedding_model: new.embedding.map(|v| v.model.to_owned()),
        device_id: new.device_id.clone(),
        hlc: new.hlc,
        created_ms: new.created_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_terms_keep_only_words() {
        assert_eq!(
            query_terms("Why did we pick \"SQLite\" OR NEAR(x)? sqlite!"),
            vec!["pick", "sqlite", "near", "x"]
        );
        assert!(query_terms("what is the").is_empty());
        assert!(query_terms("*** -- ()").is_empty());
        assert_eq!(query_terms(&"w ".repeat(100)).len(), 1);
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(query_terms(&many).len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn vectors_round_trip_through_bytes() {
        let values = vec![0.5, -1.25, 3.0e-8];
        assert_eq!(vector_values(&vector_bytes(&values)).unwrap(), values);
        assert!(vector_values(&[1, 2, 3]).is_err());
    }
}
