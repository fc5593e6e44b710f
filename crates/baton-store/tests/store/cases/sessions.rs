//! Sessions.

use baton_core::SessionId;
use baton_store::{Session, StoreError};

use crate::fixtures::{device, session};
use crate::harness::TestDb;

pub async fn sessions_round_trip_and_conflict(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.session(SessionId::new()).await.unwrap(), None);

    let s = session("desktop-1");
    store.create_session(&s).await.unwrap();
    assert_eq!(store.session(s.id).await.unwrap(), Some(s.clone()));

    // Sync re-sends: creating it again from its own device is a no-op.
    store.create_session(&s).await.unwrap();

    let untitled = Session {
        title: None,
        model: None,
        ..session("desktop-1")
    };
    store.create_session(&untitled).await.unwrap();
    assert_eq!(store.session(untitled.id).await.unwrap(), Some(untitled));

    let hijack = Session {
        device_id: device("laptop"),
        ..s.clone()
    };
    assert!(matches!(
        store.create_session(&hijack).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.session(s.id).await.unwrap(), Some(s.clone()));

    let bad = Session {
        title: Some("nul\0title".into()),
        ..session("desktop-1")
    };
    assert!(matches!(
        store.create_session(&bad).await,
        Err(StoreError::InvalidInput(_))
    ));
    assert_eq!(store.session(bad.id).await.unwrap(), None);
    store.close().await;
}
