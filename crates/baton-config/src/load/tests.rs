use super::*;
use std::io::Write;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn opts(f: &tempfile::NamedTempFile) -> LoadOptions {
    LoadOptions {
        file: Some(f.path().to_path_buf()),
        ..Default::default()
    }
}

fn err(f: &tempfile::NamedTempFile, vars: &EnvVars) -> String {
    load(&opts(f), vars).unwrap_err().to_string()
}

#[test]
fn defaults_without_a_file() {
    let vars: EnvVars = [("HOME", "/nonexistent-home")].into_iter().collect();
    let (c, path) = load(&LoadOptions::default(), &vars).unwrap();
    assert!(path.is_none());
    assert_eq!(c.server.addr, "127.0.0.1:8000");
}

#[test]
fn explicit_missing_file_is_an_error() {
    let o = LoadOptions {
        file: Some("/nonexistent/baton.toml".into()),
        ..Default::default()
    };
    let e = load(&o, &EnvVars::default()).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/baton.toml"), "{e}");
}

#[test]
fn unknown_key_names_key_and_file() {
    let f = file("[server]\nadr = \"127.0.0.1:1\"\n");
    let e = err(&f, &EnvVars::default());
    assert!(e.contains("adr"), "{e}");
    assert!(e.contains(&f.path().display().to_string()), "{e}");
}

#[test]
fn wrong_type_names_key_and_file() {
    let f = file("[server]\nmax_body_bytes = \"big\"\n");
    let e = err(&f, &EnvVars::default());
    assert!(e.contains("server.max_body_bytes"), "{e}");
    assert!(e.contains(&f.path().display().to_string()), "{e}");
}

#[test]
fn bad_url_names_key() {
    let f = file("[[providers]]\nname = \"x\"\nkind = \"openai\"\nbase_url = \"not a url\"\n");
    let e = err(&f, &EnvVars::default());
    assert!(e.contains("providers[0].base_url"), "{e}");
    assert!(e.contains(&f.path().display().to_string()), "{e}");
}

#[test]
fn base_url_with_query_fragment_or_credentials_is_refused_without_echoing_them() {
    for (url, words) in [
        ("http://127.0.0.1:1/v1?key=sk-hidden", "query"),
        ("http://127.0.0.1:1/v1#sk-hidden", "fragment"),
        ("http://me:sk-hidden@127.0.0.1:1/v1", "password"),
    ] {
        let f = file(&format!(
            "[[providers]]\nname = \"x\"\nkind = \"openai\"\nbase_url = \"{url}\"\n"
        ));
        let e = err(&f, &EnvVars::default());
        assert!(e.contains("providers[0].base_url"), "{e}");
        assert!(e.contains(words), "{e}");
        assert!(!e.contains("sk-hidden"), "{e}");
    }
}

#[test]
fn bad_addr_is_refused() {
    let f = file("[server]\naddr = \"localhost\"\n");
    assert!(err(&f, &EnvVars::default()).contains("server.addr"));
}

#[test]
fn syntax_error_names_file_and_line() {
    let f = file("[server\naddr = 1\n");
    let e = err(&f, &EnvVars::default());
    assert!(e.contains(&f.path().display().to_string()), "{e}");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn env_wins_over_file_and_flags_win_over_env() {
    let f = file("[server]\naddr = \"127.0.0.1:1000\"\n[gateway]\nretry_after_cap_secs = 3\n");
    let vars: EnvVars = [
        ("BATON_ADDR", "127.0.0.1:2000"),
        ("BATON_GATEWAY__RETRY_AFTER_CAP_SECS", "7"),
    ]
    .into_iter()
    .collect();
    let (c, _) = load(&opts(&f), &vars).unwrap();
    assert_eq!(c.server.addr, "127.0.0.1:2000");
    assert_eq!(c.gateway.retry_after_cap_secs, 7);

    let mut o = opts(&f);
    o.overrides
        .push(("server.addr".into(), "127.0.0.1:3000".into()));
    let (c, _) = load(&o, &vars).unwrap();
    assert_eq!(c.server.addr, "127.0.0.1:3000");
}

#[test]
fn env_var_of_wrong_type_names_the_variable() {
    let vars: EnvVars = [
        ("HOME", "/nonexistent-home"),
        ("BATON_SERVER__MAX_BODY_BYTES", "lots"),
    ]
    .into_iter()
    .collect();
    let e = load(&LoadOptions::default(), &vars)
        .unwrap_err()
        .to_string();
    assert!(e.contains("BATON_SERVER__MAX_BODY_BYTES"), "{e}");
}

#[test]
fn environment_overlay_applies_over_the_file() {
    let f = file(
        "[server]\naddr = \"127.0.0.1:1000\"\n\
         [environments.production.server]\naddr = \"0.0.0.0:80\"\ntoken = \"0123456789abcdef0\"\n",
    );
    let mut o = opts(&f);
    let (c, _) = load(&o, &EnvVars::default()).unwrap();
    assert_eq!(c.server.addr, "127.0.0.1:1000");
    o.environment = Some("production".into());
    let (c, _) = load(&o, &EnvVars::default()).unwrap();
    assert_eq!(c.server.addr, "0.0.0.0:80");
    assert!(c.server.token.is_some());
}

#[test]
fn unknown_environment_lists_known_ones() {
    let f = file("[environments.staging.server]\naddr = \"127.0.0.1:1\"\n");
    let mut o = opts(&f);
    o.environment = Some("prod".into());
    let e = load(&o, &EnvVars::default()).unwrap_err().to_string();
    assert!(e.contains("staging") && e.contains("prod"), "{e}");
}

#[test]
fn unselected_overlay_is_still_checked() {
    let f = file("[environments.staging.server]\nadr = \"127.0.0.1:1\"\n");
    let e = err(&f, &EnvVars::default());
    assert!(e.contains("adr") && e.contains("staging"), "{e}");
}

#[test]
fn duplicate_providers_are_refused() {
    let f = file("[[providers]]\nname = \"a\"\n[[providers]]\nname = \"a\"\n");
    assert!(err(&f, &EnvVars::default()).contains("providers[1].name"));
}

#[test]
fn secrets_are_redacted_when_printed() {
    let f = file(
        "[server]\ntoken = \"0123456789abcdef-secret\"\n[[providers]]\nname = \"openai\"\napi_key = \"sk-secret\"\n",
    );
    let (c, _) = load(&opts(&f), &EnvVars::default()).unwrap();
    let dumped = toml::to_string(&c).unwrap();
    assert!(!dumped.contains("secret"), "{dumped}");
    assert!(!format!("{c:?}").contains("secret"));
}

#[test]
fn policy_rules_and_agent_limits_are_checked_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baton.toml");
    std::fs::write(&path, "[policy]\nallow = [\"shell(git status\"]\n").unwrap();
    let opts = LoadOptions {
        file: Some(path.clone()),
        ..LoadOptions::default()
    };
    let err = load(&opts, &EnvVars::default()).unwrap_err().to_string();
    assert!(
        err.contains("`policy`") && err.contains("baton.toml"),
        "{err}"
    );

    std::fs::write(&path, "[agent]\nmax_steps = 0\n").unwrap();
    let err = load(&opts, &EnvVars::default()).unwrap_err().to_string();
    assert!(err.contains("agent.max_steps"), "{err}");

    std::fs::write(
        &path,
        "[policy]\nmode = \"auto\"\ndeny = [\"shell(git push *)\"]\n[[mcp.servers]]\nname = \"files\"\ncommand = \"mcp-files\"\nenv = { TOKEN = \"s3cret-value\" }\n",
    )
    .unwrap();
    let (config, _) = load(&opts, &EnvVars::default()).unwrap();
    assert_eq!(config.policy.mode.as_deref(), Some("auto"));
    assert_eq!(config.mcp.servers[0].env["TOKEN"].expose(), "s3cret-value");
    assert!(!toml::to_string(&config).unwrap().contains("s3cret-value"));
}

#[test]
fn memory_embedder_choices_and_mistakes() {
    let choice = |text: &str| {
        let f = file(text);
        load(&opts(&f), &EnvVars::default())
            .map(|(c, _)| c.memory.embedder_choice())
            .map_err(|e| e.to_string())
    };
    assert_eq!(choice("").unwrap(), crate::EmbedderChoice::None);
    assert_eq!(
        choice("[memory]\nmodel_dir = \"/m\"\n").unwrap(),
        crate::EmbedderChoice::Local("/m".into())
    );
    assert_eq!(
        choice("[memory]\nembedder = \"openai/text-embedding-3-small\"\n").unwrap(),
        crate::EmbedderChoice::Provider("openai/text-embedding-3-small".into())
    );
    assert_eq!(
        choice("[memory]\nembedder = \"none\"\nmodel_dir = \"/m\"\n").unwrap(),
        crate::EmbedderChoice::None
    );
    let e = choice("[memory]\nembedder = \"local\"\n").unwrap_err();
    assert!(
        e.contains("memory.embedder") && e.contains("model_dir"),
        "{e}"
    );
    let e = choice("[memory]\nembedder = \"minilm\"\n").unwrap_err();
    assert!(e.contains("provider/model"), "{e}");
}

#[test]
fn engine_settings_load_and_bad_ones_name_their_key() {
    let f = file("[engine]\nlease_ms = 2000\nqueue_limits = { gpu = 1 }\n");
    let o = LoadOptions {
        file: Some(f.path().to_path_buf()),
        ..Default::default()
    };
    let (c, _) = load(&o, &EnvVars::default()).unwrap();
    assert_eq!(c.engine.lease_ms, 2000);
    assert_eq!(c.engine.queue_limits["gpu"], 1);
    for (text, key) in [
        ("[engine]\nlease_ms = 10\n", "engine.lease_ms"),
        ("[engine]\nconcurrency = 0\n", "engine.concurrency"),
        ("[engine]\nmax_attempts = 101\n", "engine.max_attempts"),
        (
            "[engine]\nqueue_limits = { gpu = 0 }\n",
            "engine.queue_limits.gpu",
        ),
        ("[engine]\nplanner_model = \" \"\n", "engine.planner_model"),
        ("[engine]\nretain_days = 40000\n", "engine.retain_days"),
    ] {
        let f = file(text);
        assert!(err(&f, &EnvVars::default()).contains(key), "{text}");
    }
}
