//! A snapshot of environment variables, so that loading is a pure function
//! of its inputs and tests never touch the process environment.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct EnvVars(BTreeMap<String, String>);

impl EnvVars {
    /// The variables of this process (those that are valid UTF-8).
    pub fn from_process() -> Self {
        EnvVars(std::env::vars().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    /// A lookup function, for code that takes `Fn(&str) -> Option<String>`.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + Sync + '_ {
        |name| self.get(name).map(str::to_owned)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EnvVars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        EnvVars(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}
