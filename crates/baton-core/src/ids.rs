//! Identifiers. Records get UUIDv7 ids: globally unique without coordination
//! (devices create records offline) and time-ordered, so indexes stay compact.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A conversation.
    SessionId
);
uuid_id!(
    /// One message of a conversation.
    MessageId
);
uuid_id!(
    /// One agent run: a goal pursued with tools until it ends.
    RunId
);
uuid_id!(
    /// One tool call of an agent run, as baton stored it (the model's own
    /// call id is kept beside it).
    ToolCallId
);
uuid_id!(
    /// A question to a person: may this tool call run?
    ApprovalId
);
uuid_id!(
    /// One run of a workflow: a plan's task graph carried to its end.
    WorkflowId
);

/// A device, named by the device itself (`desktop-1`, `phone`): the seed's
/// free-form `device_id`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct DeviceId(String);

/// Why a device id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device id must be 1-128 characters of letters, digits, '-', '_', '.' or ':' (got {0:?})")]
pub struct DeviceIdError(pub String);

impl DeviceId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<Self, DeviceIdError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if ok {
            Ok(DeviceId(s.to_owned()))
        } else {
            Err(DeviceIdError(s.chars().take(Self::MAX_LEN).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert!(a < b);
        assert_eq!(a, a.to_string().parse().unwrap());
    }

    #[test]
    fn device_ids_are_checked() {
        assert!(DeviceId::parse("desktop-1").is_ok());
        assert!(DeviceId::parse("").is_err());
        assert!(DeviceId::parse("a b").is_err());
        assert!(DeviceId::parse(&"x".repeat(129)).is_err());
    }
}
