//! OpenAPI schemas of the types whose JSON form serde does not show: the crypto types of
//! `fdl_crypto` (hex strings and the suite's name) and [`ChainParam`] (its name). The API's views
//! name them with `#[schema(value_type = ...)]`, so the document says exactly what the server
//! sends without `fdl-crypto` depending on `utoipa`.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, Type},
    },
};

use crate::chain_param::{ChainParam, TABLE};

/// The schema of a lower-case hex string of `len` digits, without prefix.
fn hex_string(len: usize, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^[0-9a-f]{{{len}}}$")))
        .description(Some(description))
        .examples([example])
        .into()
}

/// [`fdl_crypto::Hash`] in JSON: 64 lower-case hex digits.
pub struct HashHex;

impl PartialSchema for HashHex {
    fn schema() -> RefOr<Schema> {
        hex_string(
            fdl_crypto::HASH_LEN * 2,
            "A hash under the chain's suite (SM3 or SHA-256): 64 lower-case hex digits, no prefix.",
            "5b4f1b2ae9d0c3f7a6e1d2c3b4a5968778695a4b3c2d1e0f0a1b2c3d4e5f6071",
        )
    }
}

impl ToSchema for HashHex {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hash")
    }
}

/// [`fdl_crypto::Address`] in JSON: 40 lower-case hex digits.
pub struct AddressHex;

impl PartialSchema for AddressHex {
    fn schema() -> RefOr<Schema> {
        hex_string(
            fdl_crypto::ADDRESS_LEN * 2,
            "An account address: 20 bytes as 40 lower-case hex digits, no prefix.",
            "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        )
    }
}

impl ToSchema for AddressHex {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Address")
    }
}

/// [`fdl_crypto::Suite`] in JSON: `sm` or `intl`.
pub struct SuiteName;

impl PartialSchema for SuiteName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["sm", "intl"]))
            .description(Some(
                "The chain's cryptographic suite: `sm` (SM2, SM3, SM4) or `intl` (Ed25519, SHA-256, AES-256-GCM).",
            ))
            .into()
    }
}

impl ToSchema for SuiteName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Suite")
    }
}

impl PartialSchema for ChainParam {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(TABLE.iter().map(|d| d.name)))
            .description(Some("A chain parameter governance may set, by its name (a field of `ChainParams`)."))
            .into()
    }
}

impl ToSchema for ChainParam {}

#[cfg(test)]
mod tests {
    use fdl_crypto::{Address, Hash, Suite};

    #[test]
    fn the_crypto_schemas_match_serde() {
        let json = |v: serde_json::Value| v.as_str().map(str::to_string).expect("a string");
        assert_eq!(json(serde_json::json!(Hash([0xab; 32]))).len(), fdl_crypto::HASH_LEN * 2);
        assert_eq!(json(serde_json::json!(Address([0xcd; 20]))).len(), fdl_crypto::ADDRESS_LEN * 2);
        assert_eq!(json(serde_json::json!(Suite::Sm)), "sm");
        assert_eq!(json(serde_json::json!(Suite::Intl)), "intl");
    }
}
