//! Modes, layering and provenance, project files that try to weaken the
//! policy, sub-agents that try to escalate, the command-line flags, and
//! approvals.

use std::path::Path;

use baton_policy::{
    ApprovalError, Decision, Effect, LayerError, Mode, PROJECT_POLICY_FILE, Policy, Rules, Scope,
    Source,
};

fn user(policy_toml: &str) -> Rules {
    let value: toml::Value = toml::from_str(policy_toml).unwrap();
    Rules::from_toml(&value, Source::User, "user config [policy]").unwrap()
}

fn restriction(policy_toml: &str) -> Rules {
    let value: toml::Value = toml::from_str(policy_toml).unwrap();
    Rules::from_toml(&value, Source::Restriction, "task restriction").unwrap()
}

fn write_project(workspace: &Path, text: &str) {
    let path = workspace.join(PROJECT_POLICY_FILE);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn decision(policy: &Policy, tool: &str, effect: Effect, subject: &str) -> Decision {
    policy.check(tool, effect, subject).decision
}

fn sh(policy: &Policy, command: &str) -> Decision {
    decision(policy, "shell", Effect::Execute, command)
}

#[test]
fn chat_mode_allows_no_tools() {
    let mut policy = Policy::new(Mode::Chat);
    policy.add(user(r#"allow = ["read", "shell"]"#).with_mode(Mode::Chat));
    let v = policy.check("read", Effect::Read, "README.md");
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.reason, "denied: chat mode allows no tools");
    assert_eq!(sh(&policy, "ls"), Decision::Deny);
}

#[test]
fn plan_mode_allows_only_reads_whatever_the_rules() {
    let mut policy = Policy::new(Mode::Plan);
    policy.add(user(r#"allow = ["shell", "write"]"#).with_mode(Mode::Plan));
    assert_eq!(
        decision(&policy, "read", Effect::Read, "src/lib.rs"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "search", Effect::Read, "src"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "git", Effect::Read, "status"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "git", Effect::Write, "commit"),
        Decision::Deny
    );
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/lib.rs"),
        Decision::Deny
    );
    assert_eq!(sh(&policy, "ls"), Decision::Deny);
    assert_eq!(
        decision(&policy, "shell", Effect::Read, "ls"),
        Decision::Deny,
        "a caller claiming shell only reads does not open plan mode"
    );
    assert_eq!(
        decision(&policy, "mcp", Effect::External, "github.create_issue"),
        Decision::Deny
    );
    assert_eq!(
        decision(&policy, "read", Effect::Read, "/etc/passwd"),
        Decision::Deny,
        "deny rules still apply to reads"
    );
}

#[test]
fn ask_mode_allows_reads_and_asks_the_rest() {
    let policy = Policy::new(Mode::Ask);
    assert_eq!(
        decision(&policy, "read", Effect::Read, "src/lib.rs"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "list", Effect::Read, "."),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/lib.rs"),
        Decision::Ask
    );
    assert_eq!(
        decision(&policy, "run", Effect::Execute, "python"),
        Decision::Ask
    );
    assert_eq!(sh(&policy, "ls"), Decision::Ask);
    assert_eq!(sh(&policy, "rm -rf /"), Decision::Deny);
    let v = policy.check("write", Effect::Write, "src/lib.rs");
    assert_eq!(
        v.reason,
        "asked: ask mode asks before `write` acts when no rule allows it"
    );
    assert_eq!(v.rule, None);
}

#[test]
fn auto_mode_allows_what_no_rule_stops() {
    let policy = Policy::new(Mode::Auto);
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/lib.rs"),
        Decision::Allow
    );
    assert_eq!(sh(&policy, "cargo test"), Decision::Allow);
    assert_eq!(sh(&policy, "git push --force"), Decision::Ask);
    assert_eq!(sh(&policy, "sudo apt install x"), Decision::Ask);
    assert_eq!(sh(&policy, "mkfs.ext4 /dev/sda"), Decision::Deny);
    assert_eq!(
        decision(&policy, "write", Effect::Write, ".baton/policy.toml"),
        Decision::Deny
    );
}

#[test]
fn layers_keep_their_provenance() {
    let dir = tempfile::tempdir().unwrap();
    write_project(
        dir.path(),
        "deny = [\"shell(git push *)\"]\nallow = [\"write(src/**)\"]\n",
    );
    let mut policy = Policy::new(Mode::Ask);
    policy.add(user(
        r#"
        mode = "ask"
        allow = ["shell(git *)", "shell(cargo test *)"]
        ask = ["mcp(github.*)"]
        "#,
    ));
    policy.add(Rules::load_project(dir.path()).unwrap().unwrap());
    policy.add(Rules::from_flags(&["run".to_owned()], &["curl".to_owned()]).unwrap());

    let project_file = dir.path().join(PROJECT_POLICY_FILE);
    let v = policy.check("shell", Effect::Execute, "git push origin main");
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.rule.as_deref(), Some("shell(git push *)"));
    assert_eq!(v.source, Some(Source::Project(project_file.clone())));
    assert!(
        v.reason.contains(&project_file.display().to_string()),
        "{}",
        v.reason
    );

    let v = policy.check("shell", Effect::Execute, "git status");
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(v.rule.as_deref(), Some("shell(git *)"));
    assert_eq!(v.source, Some(Source::User));
    assert_eq!(v.reason, "allowed by user rule `shell(git *)`");

    let v = policy.check("write", Effect::Write, "src/main.rs");
    assert_eq!(v.source, Some(Source::Project(project_file)));
    assert_eq!(v.decision, Decision::Allow);

    let v = policy.check("mcp", Effect::External, "github.create_issue");
    assert_eq!((v.decision, v.source), (Decision::Ask, Some(Source::User)));

    let v = policy.check("run", Effect::Execute, "python");
    assert_eq!(
        (v.decision, v.source),
        (Decision::Allow, Some(Source::Flag))
    );

    let v = policy.check("shell", Effect::Execute, "curl -s example.com");
    assert_eq!((v.decision, v.source), (Decision::Deny, Some(Source::Flag)));
    assert_eq!(v.rule.as_deref(), Some("--block curl"));

    let v = policy.check("shell", Effect::Execute, "rm -rf ~");
    assert_eq!(
        (v.decision, v.source),
        (Decision::Deny, Some(Source::Default))
    );

    let json = serde_json::to_value(policy.check("shell", Effect::Execute, "git status")).unwrap();
    assert_eq!(json["source"]["kind"], "user");
    assert_eq!(json["decision"], "allow");
}

#[test]
fn a_project_file_cannot_weaken_the_user_or_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write_project(
        dir.path(),
        r#"
        mode = "auto"
        allow = [
            "shell",
            "shell(rm -rf /)",
            "shell(git push *)",
            "shell(sudo *)",
            "write",
            "write(.baton/**)",
            "mcp(github.*)",
        ]
        "#,
    );
    let mut policy = Policy::new(Mode::Ask);
    policy.add(user(
        r#"
        mode = "ask"
        deny = ["shell(git push *)"]
        ask = ["mcp(github.*)"]
        "#,
    ));
    policy.add(Rules::load_project(dir.path()).unwrap().unwrap());
    assert_eq!(policy.mode(), Mode::Ask, "a project cannot loosen the mode");
    assert_eq!(sh(&policy, "rm -rf /"), Decision::Deny);
    assert_eq!(sh(&policy, "git push origin main"), Decision::Deny);
    assert_eq!(sh(&policy, "sudo ls"), Decision::Ask);
    assert_eq!(
        decision(&policy, "write", Effect::Write, ".baton/policy.toml"),
        Decision::Deny
    );
    assert_eq!(
        decision(&policy, "mcp", Effect::External, "github.create_issue"),
        Decision::Ask
    );
    let v = policy.check("shell", Effect::Execute, "git push origin main");
    assert_eq!(v.source, Some(Source::User));
}

#[test]
fn a_project_file_may_make_the_mode_stricter() {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), "mode = \"plan\"\n");
    let mut policy = Policy::new(Mode::Ask);
    policy.add(user(r#"mode = "auto""#));
    assert_eq!(policy.mode(), Mode::Auto);
    policy.add(Rules::load_project(dir.path()).unwrap().unwrap());
    assert_eq!(policy.mode(), Mode::Plan);
}

#[test]
fn project_file_errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Rules::load_project(dir.path()).unwrap().is_none());
    let file = dir.path().join(PROJECT_POLICY_FILE);

    write_project(dir.path(), "allow = [\"read\", \"shell(git status\"]\n");
    let err = Rules::load_project(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: `allow[1]`: rule `shell(git status` is missing `)`",
            file.display()
        )
    );

    write_project(dir.path(), "deny = [\"rm(-rf)\"]\n");
    let err = Rules::load_project(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("`deny[0]`: rule `rm(-rf)` names unknown tool `rm`"),
        "{err}"
    );

    write_project(dir.path(), "mode = \"yolo\"\n");
    let err = Rules::load_project(dir.path()).unwrap_err();
    assert!(err.to_string().contains("`mode` is \"yolo\""), "{err}");

    write_project(dir.path(), "allow = [\n\"read\"\n");
    let err = Rules::load_project(dir.path()).unwrap_err();
    assert!(matches!(err, LayerError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&file.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("line "), "{err}");

    let huge = format!(
        "# {}\n",
        "x".repeat(baton_policy::MAX_POLICY_FILE_BYTES as usize)
    );
    write_project(dir.path(), &huge);
    let err = Rules::load_project(dir.path()).unwrap_err();
    assert!(matches!(err, LayerError::FileTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("over the"), "{err}");
}

#[test]
fn a_child_cannot_turn_a_parent_deny_or_ask_into_allow() {
    let mut parent = Policy::new(Mode::Ask);
    parent.add(user(
        r#"
        deny = ["shell(curl *)"]
        ask = ["write(Cargo.toml)"]
        allow = ["read", "shell(cargo test *)"]
        "#,
    ));
    let child = parent.child(Some(&restriction(
        r#"
        mode = "auto"
        allow = ["shell", "shell(curl *)", "shell(sudo *)", "write", "read"]
        "#,
    )));
    assert_eq!(child.mode(), Mode::Ask, "a child's mode cannot be looser");
    assert_eq!(sh(&child, "curl example.com"), Decision::Deny);
    assert_eq!(sh(&child, "sudo ls"), Decision::Ask);
    assert_eq!(
        decision(&child, "write", Effect::Write, "Cargo.toml"),
        Decision::Ask
    );
    assert_eq!(
        sh(&child, "ls"),
        Decision::Ask,
        "the parent asks for `ls`; a child's allow list only confines"
    );
    assert_eq!(
        decision(&child, "write", Effect::Write, "src/lib.rs"),
        Decision::Ask
    );
    assert_eq!(sh(&child, "cargo test --lib"), Decision::Allow);
    assert_eq!(sh(&child, "rm -rf /"), Decision::Deny);
}

#[test]
fn a_child_is_confined_to_its_allow_list() {
    let parent = Policy::new(Mode::Auto);
    let child = parent.child(Some(&restriction(
        r#"allow = ["read", "search", "shell(cargo test *)"]"#,
    )));
    assert_eq!(
        decision(&child, "read", Effect::Read, "src/lib.rs"),
        Decision::Allow
    );
    assert_eq!(sh(&child, "cargo test -q"), Decision::Allow);
    let v = child.check("write", Effect::Write, "src/lib.rs");
    assert_eq!(v.decision, Decision::Deny);
    assert_eq!(v.source, Some(Source::Restriction));
    assert!(
        v.reason
            .contains("may only use `read`, `search`, `shell(cargo test *)`"),
        "{}",
        v.reason
    );
    assert_eq!(sh(&child, "cargo test && ls"), Decision::Deny);
    assert_eq!(sh(&child, "cargo test > log.txt"), Decision::Deny);

    let grandchild = child.child(Some(&restriction(r#"allow = ["shell", "write"]"#)));
    assert_eq!(
        sh(&grandchild, "ls"),
        Decision::Deny,
        "restrictions accumulate"
    );
    assert_eq!(
        decision(&grandchild, "write", Effect::Write, "x"),
        Decision::Deny
    );
    assert_eq!(sh(&grandchild, "cargo test"), Decision::Allow);

    let stricter = child.child(Some(&restriction(
        "mode = \"plan\"\ndeny = [\"read(secrets/**)\"]",
    )));
    assert_eq!(stricter.mode(), Mode::Plan);
    assert_eq!(sh(&stricter, "cargo test"), Decision::Deny);
    let v = stricter.check("read", Effect::Read, "secrets/key");
    assert_eq!(
        (v.decision, v.source),
        (Decision::Deny, Some(Source::Restriction))
    );

    let same = parent.child(None);
    assert_eq!(same.mode(), Mode::Auto);
    assert_eq!(sh(&same, "ls"), Decision::Allow);
}

#[test]
fn a_child_inherits_the_parent_mode_when_stricter() {
    let parent = Policy::new(Mode::Plan);
    let child = parent.child(Some(&restriction(r#"mode = "auto""#)));
    assert_eq!(child.mode(), Mode::Plan);
    let chat = Policy::new(Mode::Auto).child(Some(&restriction(r#"mode = "chat""#)));
    assert_eq!(chat.mode(), Mode::Chat);
}

#[test]
fn allow_flag_allows_whole_tools() {
    let mut policy = Policy::new(Mode::Ask);
    policy.add(Rules::from_flags(&["search,read,run".to_owned()], &[]).unwrap());
    assert_eq!(
        decision(&policy, "run", Effect::Execute, "python"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "search", Effect::Read, "src"),
        Decision::Allow
    );
    assert_eq!(sh(&policy, "ls"), Decision::Ask);
    assert_eq!(
        decision(&policy, "write", Effect::Write, "x"),
        Decision::Ask
    );
}

#[test]
fn block_flag_denies_any_command_using_the_word() {
    let mut policy = Policy::new(Mode::Auto);
    policy.add(Rules::from_flags(&["shell".to_owned()], &["rm,del,format".to_owned()]).unwrap());
    for command in [
        "rm x.txt",
        "/bin/rm x",
        "\\rm x",
        "sudo rm x",
        "bash -c 'rm x'",
        "find . -name x -exec rm {} \\;",
        "echo rm",
        "ls && del x",
        "echo $(rm x)",
    ] {
        let v = policy.check("shell", Effect::Execute, command);
        assert_eq!(v.decision, Decision::Deny, "{command}: {}", v.reason);
        assert_eq!(v.source, Some(Source::Flag), "{command}: {}", v.reason);
    }
    let v = policy.check("shell", Effect::Execute, "format c:");
    assert_eq!(
        (v.decision, v.source),
        (Decision::Deny, Some(Source::Default)),
        "the default deny is found first"
    );
    assert_eq!(sh(&policy, "ls -la"), Decision::Allow);
    assert_eq!(sh(&policy, "rmdir empty"), Decision::Allow);
    assert_eq!(sh(&policy, "echo format-check"), Decision::Allow);
    let v = policy.check("shell", Effect::Execute, "rm x");
    assert_eq!(
        v.reason,
        "denied by command-line rule `--block rm`: the command uses `rm`, which --block forbids"
    );
}

#[test]
fn approvals_are_remembered_exactly() {
    let mut policy = Policy::new(Mode::Ask);
    assert_eq!(sh(&policy, "cargo build --release"), Decision::Ask);
    let once = policy
        .remember("shell", "cargo build --release", Scope::Once)
        .unwrap();
    assert!(once.is_empty());
    assert_eq!(sh(&policy, "cargo build --release"), Decision::Ask);

    let rules = policy
        .remember("shell", "cargo build --release", Scope::Always)
        .unwrap();
    assert_eq!(rules, ["shell(cargo build --release)"]);
    let v = policy.check("shell", Effect::Execute, "cargo build --release");
    assert_eq!(
        (v.decision, v.source),
        (Decision::Allow, Some(Source::Approval))
    );
    assert_eq!(v.rule.as_deref(), Some("shell(cargo build --release)"));

    assert_eq!(sh(&policy, "cargo build"), Decision::Ask);
    assert_eq!(sh(&policy, "cargo build --release --all"), Decision::Ask);
    assert_eq!(
        sh(&policy, "env cargo build --release"),
        Decision::Allow,
        "a harmless wrapper runs the same command"
    );
    assert_eq!(sh(&policy, "sudo cargo build --release"), Decision::Ask);
    assert_eq!(
        sh(&policy, "PATH=/tmp cargo build --release"),
        Decision::Ask
    );
    assert_eq!(
        sh(&policy, "cargo build --release > out.log"),
        Decision::Ask
    );
    assert_eq!(
        sh(&policy, "cargo build --release && rm -rf ~"),
        Decision::Deny
    );
    assert_eq!(sh(&policy, "cargo build --release && ls"), Decision::Ask);

    let rules = policy
        .remember("shell", "ls *.rs | wc -l", Scope::Always)
        .unwrap();
    assert_eq!(rules, ["shell(ls '*.rs')", "shell(wc -l)"]);
    assert_eq!(sh(&policy, "ls *.rs | wc -l"), Decision::Allow);
    assert_eq!(sh(&policy, "ls x.rs"), Decision::Ask);

    let rules = policy
        .remember("write", "./src/../src/a.rs", Scope::Always)
        .unwrap();
    assert_eq!(rules, ["write(src/a.rs)"]);
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/a.rs"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/b.rs"),
        Decision::Ask
    );
    assert_eq!(
        decision(&policy, "edit", Effect::Write, "src/a.rs"),
        Decision::Ask
    );

    let rules = policy.remember("write", "src/*.rs", Scope::Always).unwrap();
    assert_eq!(rules, [r"write(src/\*.rs)"]);
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/b.rs"),
        Decision::Ask
    );

    let rules = policy
        .remember("mcp", "github.create_issue", Scope::Always)
        .unwrap();
    assert_eq!(rules, ["mcp(github.create_issue)"]);
    assert_eq!(
        decision(&policy, "mcp", Effect::External, "github.create_issue"),
        Decision::Allow
    );
    assert_eq!(
        decision(&policy, "mcp", Effect::External, "github.delete_repo"),
        Decision::Ask
    );
}

#[test]
fn stored_approvals_restore_into_a_new_session() {
    let mut first = Policy::new(Mode::Ask);
    let mut stored = Vec::new();
    for (tool, subject) in [
        ("shell", "cat <<EOF > notes.txt\nhello\nEOF"),
        ("shell", "make 2> 'build errors.log'"),
        ("git", "commit"),
        ("write", "docs/a b.md"),
    ] {
        stored.extend(first.remember(tool, subject, Scope::Always).unwrap());
    }
    assert_eq!(
        stored,
        [
            "shell(cat >notes.txt)",
            "shell(make 2>'build errors.log')",
            "git(commit)",
            "write(docs/a b.md)",
        ]
    );
    let mut second = Policy::new(Mode::Ask);
    for text in &stored {
        second.restore_approval(text).unwrap();
    }
    assert_eq!(
        sh(&second, "cat <<EOF > notes.txt\nhello\nEOF"),
        Decision::Allow
    );
    assert_eq!(
        sh(&second, "cat <<EOF > other.txt\nhello\nEOF"),
        Decision::Ask
    );
    assert_eq!(sh(&second, "make 2> 'build errors.log'"), Decision::Allow);
    assert_eq!(sh(&second, "make"), Decision::Ask);
    assert_eq!(
        decision(&second, "git", Effect::Write, "commit"),
        Decision::Allow
    );
    assert_eq!(
        decision(&second, "git", Effect::Write, "commit --amend"),
        Decision::Ask
    );
    assert_eq!(
        decision(&second, "write", Effect::Write, "docs/a b.md"),
        Decision::Allow
    );
}

#[test]
fn an_approval_lifts_an_ask_but_never_a_deny() {
    let mut policy = Policy::new(Mode::Auto);
    assert_eq!(sh(&policy, "git push --force origin main"), Decision::Ask);
    policy
        .remember("shell", "git push --force origin main", Scope::Always)
        .unwrap();
    assert_eq!(sh(&policy, "git push --force origin main"), Decision::Allow);
    assert_eq!(sh(&policy, "git push --force origin dev"), Decision::Ask);

    let err = policy
        .remember("shell", "rm -rf /", Scope::Always)
        .unwrap_err();
    assert!(matches!(err, ApprovalError::Denied { .. }), "{err}");
    assert!(
        err.to_string().contains("default rule `shell(rm -rf /)`"),
        "{err}"
    );
    let err = policy
        .remember("write", ".git/hooks/pre-commit", Scope::Once)
        .unwrap_err();
    assert!(matches!(err, ApprovalError::Denied { .. }), "{err}");

    policy.restore_approval("shell(rm -rf /)").unwrap();
    assert_eq!(
        sh(&policy, "rm -rf /"),
        Decision::Deny,
        "a stored approval cannot lift a deny"
    );
}

#[test]
fn approvals_respect_a_child_restriction() {
    let parent = Policy::new(Mode::Ask);
    let mut child = parent.child(Some(&restriction(r#"allow = ["read"]"#)));
    let err = child.remember("shell", "ls", Scope::Always).unwrap_err();
    assert!(matches!(err, ApprovalError::Denied { .. }), "{err}");
    assert_eq!(sh(&child, "ls"), Decision::Deny);
}

#[test]
fn stored_approvals_must_be_exact() {
    let mut policy = Policy::new(Mode::Ask);
    for text in [
        "shell(git *)",
        "shell",
        "write(src/**)",
        "mcp(github.*)",
        "read(*)",
    ] {
        let err = policy.restore_approval(text).unwrap_err();
        assert_eq!(err, ApprovalError::NotExact(text.to_owned()));
    }
    assert!(matches!(
        policy.restore_approval("shell(git status"),
        Err(ApprovalError::Rule(_))
    ));
    policy.restore_approval("shell(git status)").unwrap();
    policy.restore_approval("shell(git status)").unwrap();
    assert_eq!(sh(&policy, "git status"), Decision::Allow);
    let approvals = policy
        .rules()
        .filter(|(_, _, source)| **source == Source::Approval)
        .count();
    assert_eq!(approvals, 1);
    assert!(matches!(
        policy.remember("bash", "ls", Scope::Always),
        Err(ApprovalError::UnknownTool(_))
    ));
}

#[test]
fn subjects_are_normalised_before_matching() {
    let mut policy = Policy::new(Mode::Ask);
    policy.add(user(r#"allow = ["write(src/**)", "shell(git status)"]"#));
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/../.baton/policy.toml"),
        Decision::Deny
    );
    assert_eq!(
        decision(&policy, "write", Effect::Write, "src/../README.md"),
        Decision::Ask
    );
    assert_eq!(
        decision(&policy, "write", Effect::Write, "./src/a/b.rs"),
        Decision::Allow
    );
    assert_eq!(sh(&policy, "git   status"), Decision::Allow);
    assert_eq!(sh(&policy, "'git' \"status\""), Decision::Allow);
    assert_eq!(
        sh(&policy, "/tmp/evil/git status"),
        Decision::Ask,
        "an allow rule never matches a program from another path"
    );
    assert_eq!(sh(&policy, "GIT_DIR=/tmp/x git status"), Decision::Ask);
}
