//! Versions of the handoff documents: each stored content of a workspace's
//! tier file, numbered from 1. Recording the same content as the latest
//! version stores nothing, so callers may record whenever they read.

use baton_core::{DeviceId, HlcStamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::rows::{check_text, device_id_column, hlc_column, hlc_from_column};
use crate::store::{BeginWrite, SequenceLock, Store, on_pool};

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentVersion {
    pub id: String,
    pub workspace: String,
    /// The file name, e.g. `SESSION_BRIEFING.md`.
    pub name: String,
    pub version: i64,
    pub content: String,
    /// SHA-256 of `content`, lowercase hex.
    pub hash: String,
    pub device_id: DeviceId,
    pub hlc: HlcStamp,
    pub created_ms: i64,
}

/// What a caller records; the store numbers it.
#[derive(Debug, Clone)]
pub struct NewDocumentVersion<'a> {
    pub workspace: &'a str,
    pub name: &'a str,
    pub content: &'a str,
    /// SHA-256 of `content` (the caller hashes; the store compares).
    pub hash: &'a str,
    pub device_id: &'a DeviceId,
    pub hlc: HlcStamp,
    pub created_ms: i64,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: String,
    workspace: String,
    name: String,
    version: i64,
    content: String,
    hash: String,
    device_id: String,
    hlc: i64,
    created_at: i64,
}

impl VersionRow {
    fn into_version(self) -> Result<DocumentVersion, StoreError> {
        Ok(DocumentVersion {
            device_id: device_id_column(&self.device_id)?,
            hlc: hlc_from_column(self.hlc)?,
            id: self.id,
            workspace: self.workspace,
            name: self.name,
            version: self.version,
            content: self.content,
            hash: self.hash,
            created_ms: self.created_at,
        })
    }
}

const COLUMNS: &str = "id, workspace, name, version, content, hash, device_id, hlc, created_at";

impl Store {
    /// Stores `new` as the document's next version, unless the latest
    /// version has the same hash; returns the version stored, or `None`
    /// when nothing changed.
    pub async fn record_document_version(
        &self,
        new: NewDocumentVersion<'_>,
    ) -> Result<Option<DocumentVersion>, StoreError> {
        check_text("workspace", new.workspace)?;
        check_text("document name", new.name)?;
        check_text("document", new.content)?;
        let hlc = hlc_column(new.hlc)?;
        let id = uuid::Uuid::now_v7().to_string();
        let lock_key = format!("document_versions\n{}\n{}", new.workspace, new.name);
        let version = on_pool!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            tx.lock_sequence(&lock_key).await?;
            let latest: Option<(i64, String)> = sqlx::query_as(
                "SELECT version, hash FROM document_versions \
                     WHERE workspace = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
            )
            .bind(new.workspace)
            .bind(new.name)
            .fetch_optional(&mut *tx)
            .await?;
            let version = match latest {
                Some((_, hash)) if hash == new.hash => return Ok(None),
                Some((version, _)) => version + 1,
                None => 1,
            };
            sqlx::query(&format!(
                "INSERT INTO document_versions ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(&id)
            .bind(new.workspace)
            .bind(new.name)
            .bind(version)
            .bind(new.content)
            .bind(new.hash)
            .bind(new.device_id.as_str())
            .bind(hlc)
            .bind(new.created_ms)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Some(version)
        });
        Ok(version.map(|version| DocumentVersion {
            id,
            workspace: new.workspace.to_owned(),
            name: new.name.to_owned(),
            version,
            content: new.content.to_owned(),
            hash: new.hash.to_owned(),
            device_id: new.device_id.clone(),
            hlc: new.hlc,
            created_ms: new.created_ms,
        }))
    }

    /// Every version of a document, oldest first.
    pub async fn document_versions(
        &self,
        workspace: &str,
        name: &str,
    ) -> Result<Vec<DocumentVersion>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM document_versions WHERE workspace = $1 AND name = $2 \
             ORDER BY version"
        );
        let rows: Vec<VersionRow> = on_pool!(self, read, |pool| {
            sqlx::query_as(&sql)
                .bind(workspace)
                .bind(name)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(VersionRow::into_version).collect()
    }
}
