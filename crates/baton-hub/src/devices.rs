//! Device state and history: the seed's `POST /device/state` and
//! `GET /device/{id}/history`.

use baton_core::{DeviceId, wall_millis};
use baton_store::{DeviceState, HistoryPage, HistorySlice};
use serde::{Deserialize, Serialize};

use crate::{Hub, HubError};

/// Longest status text a device may report.
pub const MAX_STATUS_BYTES: usize = 256;
/// Largest metadata object a device may attach, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// What a device reports about itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    pub device_id: String,
    #[serde(default)]
    pub status: Option<String>,
    /// The version of the continuity documents the device has seen.
    #[serde(default)]
    pub context_version: Option<i64>,
    /// Free-form facts (battery, model loaded, LAN address, …).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

impl Hub {
    /// Records a device's state; missing fields keep their previous value.
    pub async fn report_device(&self, report: DeviceReport) -> Result<DeviceState, HubError> {
        let device_id = parse_id(&report.device_id)?;
        if report
            .status
            .as_ref()
            .is_some_and(|s| s.len() > MAX_STATUS_BYTES)
        {
            return Err(HubError::InvalidInput(format!(
                "`status` is longer than {MAX_STATUS_BYTES} bytes"
            )));
        }
        if let Some(m) = &report.metadata {
            if !m.is_object() {
                return Err(HubError::InvalidInput(
                    "`metadata` must be a JSON object".into(),
                ));
            }
            if m.to_string().len() > MAX_METADATA_BYTES {
                return Err(HubError::InvalidInput(format!(
                    "`metadata` is larger than {MAX_METADATA_BYTES} bytes"
                )));
            }
        }
        if report.context_version.is_some_and(|v| v < 0) {
            return Err(HubError::InvalidInput(
                "`context_version` must not be negative".into(),
            ));
        }
        let previous = self.inner.store.device_state(&device_id).await?;
        let state = DeviceState {
            device_id,
            status: report
                .status
                .or_else(|| previous.as_ref().map(|p| p.status.clone()))
                .unwrap_or_else(|| "online".into()),
            context_version: report
                .context_version
                .or_else(|| previous.as_ref().map(|p| p.context_version))
                .unwrap_or(0),
            last_seen_ms: wall_millis() as i64,
            metadata: report
                .metadata
                .or_else(|| previous.map(|p| p.metadata))
                .unwrap_or_else(|| serde_json::json!({})),
            hlc: self.inner.clock.now(),
        };
        Ok(self.inner.store.put_device_state(&state).await?)
    }

    pub async fn device(&self, device_id: &str) -> Result<DeviceState, HubError> {
        let id = parse_id(device_id)?;
        self.inner
            .store
            .device_state(&id)
            .await?
            .ok_or_else(|| HubError::DeviceNotFound(id.to_string()))
    }

    /// A page of a device's messages, newest first.
    pub async fn device_history(
        &self,
        device_id: &str,
        before: Option<String>,
        limit: Option<u32>,
    ) -> Result<HistorySlice, HubError> {
        let id = parse_id(device_id)?;
        let limit = limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(HubError::InvalidInput(
                "`limit` must be between 1 and 500".into(),
            ));
        }
        let page = HistoryPage { before, limit };
        Ok(self.inner.store.device_history(&id, &page).await?)
    }
}

fn parse_id(raw: &str) -> Result<DeviceId, HubError> {
    DeviceId::parse(raw).map_err(|e| HubError::InvalidInput(format!("`device_id`: {e}")))
}
