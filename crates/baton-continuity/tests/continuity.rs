//! Continuity against a real store (SQLite here; the store suite runs the
//! chain and the document versions on both backends): session-log appends,
//! tampering found by position, concurrent appenders, and the handoff.

use std::sync::Arc;

use baton_continuity::{Entry, Problem, SessionLog, Writer, handoff};
use baton_core::{DeviceId, Hlc};
use baton_store::Store;

struct Fixture {
    _dir: tempfile::TempDir,
    workspace: std::path::PathBuf,
    store: Store,
    log: SessionLog,
    device: DeviceId,
    clock: Hlc,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let workspace = dir.path().join("project");
    std::fs::create_dir(&workspace).unwrap();
    let store = Store::open_sqlite(&dir.path().join("baton.db"))
        .await
        .unwrap();
    let log = SessionLog::open(&workspace).unwrap();
    Fixture {
        _dir: dir,
        workspace,
        store,
        log,
        device: DeviceId::parse("desktop-1").unwrap(),
        clock: Hlc::new(),
    }
}

fn entry(title: &str) -> String {
    Entry {
        title: title.into(),
        work_done: vec![format!("did {title}")],
        ..Entry::default()
    }
    .render()
}

impl Fixture {
    async fn append(&self, title: &str) {
        self.log
            .append(&self.store, &entry(title), &self.device, &self.clock)
            .await
            .unwrap();
    }

    fn edit(&self, from: &str, to: &str) {
        let path = self.log.path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{from:?} not in the log");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    async fn problems(&self) -> Vec<Problem> {
        self.log.verify(&self.store).await.unwrap().problems
    }
}

#[tokio::test]
async fn appended_entries_verify_and_every_tampering_is_found() {
    let f = fixture().await;
    for title in ["one", "two", "three"] {
        f.append(title).await;
    }
    let text = std::fs::read_to_string(f.workspace.join("SESSION_LOG.md")).unwrap();
    assert_eq!(text.matches("# Session Log").count(), 1);
    assert_eq!(text.matches("## Session: ").count(), 3);
    let intact = f.log.verify(&f.store).await.unwrap();
    assert!(intact.is_intact(), "{intact:?}");
    assert_eq!((intact.recorded, intact.in_file), (3, 3));

    f.edit("did two", "did something else");
    assert_eq!(f.problems().await, vec![Problem::Edited { position: 2 }]);
    f.edit("did something else", "did two");
    assert!(f.problems().await.is_empty());

    f.edit(&entry("two"), "");
    assert_eq!(
        f.problems().await,
        vec![
            Problem::Moved {
                recorded: 3,
                position: 2
            },
            Problem::Deleted { position: 2 }
        ]
    );
    let text = std::fs::read_to_string(f.log.path()).unwrap();
    std::fs::write(f.log.path(), format!("{text}{}", entry("by hand"))).unwrap();
    assert!(
        f.problems()
            .await
            .contains(&Problem::NotRecorded { position: 3 })
    );
}

#[tokio::test]
async fn a_missing_file_shows_every_entry_deleted_and_appending_goes_on() {
    let f = fixture().await;
    f.append("one").await;
    std::fs::remove_file(f.log.path()).unwrap();
    assert_eq!(f.problems().await, vec![Problem::Deleted { position: 1 }]);
    f.append("two").await;
    let text = std::fs::read_to_string(f.log.path()).unwrap();
    assert!(text.starts_with("# Session Log"), "{text}");
}

#[tokio::test]
async fn bad_entries_are_refused_and_nothing_is_written() {
    let f = fixture().await;
    for bad in ["no heading here", "## one\n## two\n"] {
        let err = f
            .log
            .append(&f.store, bad, &f.device, &f.clock)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a session log entry"), "{err}");
    }
    assert!(!f.log.path().exists());
    assert_eq!(f.log.verify(&f.store).await.unwrap().recorded, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_never_interleave() {
    let f = Arc::new(fixture().await);
    let mut tasks = Vec::new();
    for writer in 0..4 {
        let f = Arc::clone(&f);
        tasks.push(tokio::spawn(async move {
            for n in 0..8 {
                f.append(&format!("writer {writer} entry {n}")).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let verified = f.log.verify(&f.store).await.unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert_eq!((verified.recorded, verified.in_file), (32, 32));
}

#[tokio::test]
async fn handoff_rewrites_the_briefing_and_keeps_what_it_replaces() {
    let f = fixture().await;
    let briefing = f.workspace.join("SESSION_BRIEFING.md");
    std::fs::write(&briefing, "# Session Briefing\n\nmy own notes\n").unwrap();
    let planned = Entry {
        title: "planning".into(),
        work_done: vec!["sketched the API".into()],
        for_next_instance: vec!["write the handler".into()],
        decisions: vec!["REST first".into()],
        ..Entry::default()
    };
    f.log
        .append(&f.store, &planned.render(), &f.device, &f.clock)
        .await
        .unwrap();

    let report = handoff(&f.store, &f.log, Writer::Summary, &f.device, &f.clock)
        .await
        .unwrap();
    assert_eq!(report.entries_used, 1);
    assert_eq!(
        (report.previous_version, report.version),
        (Some(1), Some(2))
    );
    let text = std::fs::read_to_string(&briefing).unwrap();
    assert!(text.contains("- write the handler"), "{text}");
    assert!(text.contains("- REST first"), "{text}");
    assert!(text.contains("- planning: sketched the API"), "{text}");
    let versions = f
        .store
        .document_versions(f.log.key(), "SESSION_BRIEFING.md")
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
    assert!(
        versions[0].content.contains("my own notes"),
        "the person's text is kept"
    );

    // Nothing new in the log: the same briefing, nothing stored again.
    let again = handoff(&f.store, &f.log, Writer::Summary, &f.device, &f.clock)
        .await
        .unwrap();
    assert_eq!((again.previous_version, again.version), (None, None));
    assert!(!f.workspace.join(".SESSION_BRIEFING.md.baton-tmp").exists());
}
