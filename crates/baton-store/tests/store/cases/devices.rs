//! Device state.

use baton_store::{DeviceState, StoreError};
use serde_json::json;

use crate::fixtures::{device, stamp};
use crate::harness::TestDb;

fn state(status: &str, last_seen_ms: i64, hlc: u64) -> DeviceState {
    DeviceState {
        device_id: device("phone"),
        status: status.into(),
        context_version: 3,
        last_seen_ms,
        metadata: json!({"os": "android", "caps": ["chat", "voice"], "battery": 0.5}),
        hlc: stamp(hlc),
    }
}

pub async fn device_state_upserts_newer_stamp_wins(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.device_state(&device("phone")).await.unwrap(), None);

    let first = state("online", 1_000, 1_000);
    assert_eq!(store.put_device_state(&first).await.unwrap(), first);
    assert_eq!(
        store.device_state(&device("phone")).await.unwrap(),
        Some(first.clone())
    );

    // A newer stamp replaces the state.
    let newer = DeviceState {
        context_version: 4,
        metadata: json!({"os": "android", "note": "upgraded"}),
        ..state("busy", 2_000, 2_000)
    };
    assert_eq!(store.put_device_state(&newer).await.unwrap(), newer);

    // An older stamp loses: the stored state comes back, but the device
    // was seen, so last_seen still moves forward.
    let stale = state("offline", 3_000, 1_500);
    let stored = store.put_device_state(&stale).await.unwrap();
    assert_eq!(
        stored,
        DeviceState {
            last_seen_ms: 3_000,
            ..newer.clone()
        }
    );

    // An equal stamp is a re-send and replaces; last_seen never goes back.
    let resend = state("online", 500, 2_000);
    let stored = store.put_device_state(&resend).await.unwrap();
    assert_eq!(
        stored,
        DeviceState {
            last_seen_ms: 3_000,
            ..resend
        }
    );
    assert_eq!(
        store.device_state(&device("phone")).await.unwrap(),
        Some(stored)
    );
    store.close().await;
}

pub async fn device_state_refuses_nul(db: TestDb) {
    let store = db.open().await;
    let bad_status = state("on\0line", 1, 1);
    assert!(matches!(
        store.put_device_state(&bad_status).await,
        Err(StoreError::InvalidInput(_))
    ));
    let bad_metadata = DeviceState {
        metadata: json!({"k": ["a\u{0}b"]}),
        ..state("online", 1, 1)
    };
    assert!(matches!(
        store.put_device_state(&bad_metadata).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(store.device_state(&device("phone")).await.unwrap(), None);
    store.close().await;
}
