//! A member's role (STD-13.1), carried in its certificate subject's `OU` and named in access
//! rules. The one role type of the chain: certificates, access rules, governance and node
//! configuration all use it (a node's [`NodeRole`] maps to it with [`NodeRole::role`]).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gov::NodeRole;

/// A member's role, carried in the certificate subject's `OU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// An institution's administrator (its governance seat).
    Admin,
    /// A client that sends transactions.
    Client,
    /// A validator node.
    Validator,
    /// An observer node.
    Observer,
    /// The regulator.
    Regulator,
    /// An auditor.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] =
        [Role::Admin, Role::Client, Role::Validator, Role::Observer, Role::Regulator, Role::Auditor];

    /// The `OU` value (lowercase).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Client => "client",
            Role::Validator => "validator",
            Role::Observer => "observer",
            Role::Regulator => "regulator",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s}: expected one of admin, client, validator, observer, regulator, auditor"))
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl NodeRole {
    /// The certificate role a node of this kind holds.
    pub fn role(self) -> Role {
        match self {
            NodeRole::Validator => Role::Validator,
            NodeRole::Observer => Role::Observer,
        }
    }
}

impl From<NodeRole> for Role {
    fn from(r: NodeRole) -> Role {
        r.role()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_as_lowercase_strings() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            let json = serde_json::to_string(&r).expect("json");
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).expect("back"), r);
        }
        assert!("root".parse::<Role>().is_err());
        assert_eq!(NodeRole::Validator.role(), Role::Validator);
        assert_eq!(Role::from(NodeRole::Observer), Role::Observer);
    }
}
