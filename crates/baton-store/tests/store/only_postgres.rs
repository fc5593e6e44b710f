//! What only the PostgreSQL backend can get wrong: leaking the password of
//! its URL.

use baton_store::Store;
use url::Url;

use baton_testkit::TestDatabase;

#[tokio::test]
async fn connection_errors_and_debug_output_hide_the_password() {
    let Some(db) =
        TestDatabase::postgres("connection_errors_and_debug_output_hide_the_password").await
    else {
        return;
    };
    let admin = db.url().to_owned();
    let mut wrong = Url::parse(&admin).unwrap();
    wrong.set_password(Some("wrong-s3cret-pw")).unwrap();
    let error = Store::connect(wrong.as_str()).await.unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("wrong-s3cret-pw"), "{text}");
    }

    let store = Store::connect(&admin).await.unwrap();
    let password = Url::parse(&admin)
        .unwrap()
        .password()
        .unwrap_or_default()
        .to_owned();
    let shown = format!("{store:?}");
    assert!(password.is_empty() || !shown.contains(&password), "{shown}");
    store.close().await;
}
