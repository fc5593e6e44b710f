//! Where baton keeps its files by default, following the XDG base directories.

use std::path::PathBuf;

type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn xdg_dir(env: EnvLookup<'_>, var: &str, fallback: &str) -> PathBuf {
    if let Some(dir) = env(var).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = env("HOME")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(fallback)
}

/// `$XDG_DATA_HOME/baton`, else `~/.local/share/baton`.
pub fn default_data_dir(env: EnvLookup<'_>) -> PathBuf {
    xdg_dir(env, "XDG_DATA_HOME", ".local/share").join("baton")
}

/// `$XDG_CONFIG_HOME/baton/config.toml`, else `~/.config/baton/config.toml`.
pub fn default_config_path(env: EnvLookup<'_>) -> PathBuf {
    xdg_dir(env, "XDG_CONFIG_HOME", ".config")
        .join("baton")
        .join("config.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_xdg_then_home() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            default_data_dir(&env),
            PathBuf::from("/home/u/.local/share/baton")
        );
        let env = |k: &str| match k {
            "XDG_CONFIG_HOME" => Some("/cfg".to_owned()),
            _ => None,
        };
        assert_eq!(
            default_config_path(&env),
            PathBuf::from("/cfg/baton/config.toml")
        );
    }
}
