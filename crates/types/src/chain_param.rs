//! The chain parameters governance may change: one table gives each its name, how to read it
//! and how to set it, so a new parameter is one line here (and a field of [`ChainParams`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::genesis::ChainParams;

/// A chain parameter, as a `SetParam` proposal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChainParam {
    /// [`ChainParams::block_interval_ms`].
    BlockIntervalMs,
    /// [`ChainParams::max_block_txs`].
    MaxBlockTxs,
    /// [`ChainParams::max_tx_bytes`].
    MaxTxBytes,
    /// [`ChainParams::max_expiry_window`].
    MaxExpiryWindow,
    /// [`ChainParams::empty_block_interval_ms`].
    EmptyBlockIntervalMs,
    /// [`ChainParams::min_validators`].
    MinValidators,
    /// [`ChainParams::gov_threshold_num`].
    GovThresholdNum,
    /// [`ChainParams::gov_threshold_den`].
    GovThresholdDen,
    /// [`ChainParams::key_reset_lock_blocks`].
    KeyResetLockBlocks,
    /// [`ChainParams::max_voting_blocks`].
    MaxVotingBlocks,
    /// [`ChainParams::propose_timeout_ms`].
    ProposeTimeoutMs,
    /// [`ChainParams::vote_timeout_ms`].
    VoteTimeoutMs,
    /// [`ChainParams::max_code_bytes`].
    MaxCodeBytes,
    /// [`ChainParams::max_memory_pages`].
    MaxMemoryPages,
    /// [`ChainParams::max_call_depth`].
    MaxCallDepth,
    /// [`ChainParams::max_tx_fuel`].
    MaxTxFuel,
    /// [`ChainParams::max_block_fuel`].
    MaxBlockFuel,
    /// [`ChainParams::max_return_bytes`].
    MaxReturnBytes,
    /// [`ChainParams::max_contract_events`].
    MaxContractEvents,
    /// [`ChainParams::max_event_bytes`].
    MaxEventBytes,
    /// [`ChainParams::max_key_bytes`].
    MaxKeyBytes,
    /// [`ChainParams::max_value_bytes`].
    MaxValueBytes,
    /// [`ChainParams::contract_deploy_policy`].
    ContractDeployPolicy,
    /// [`ChainParams::max_tx_gas`].
    MaxTxGas,
    /// [`ChainParams::max_block_gas`].
    MaxBlockGas,
    /// [`ChainParams::evm_denied_opcodes`].
    EvmDeniedOpcodes,
}

/// A value too large for its parameter's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{name} out of range: {value}")]
pub struct OutOfRange {
    /// The parameter.
    pub name: &'static str,
    /// The value given.
    pub value: u64,
}

/// One row of [`TABLE`].
pub struct ParamDef {
    /// The parameter.
    pub param: ChainParam,
    /// Its name (`snake_case`, as in genesis files and proposals).
    pub name: &'static str,
    /// Reads it.
    pub get: fn(&ChainParams) -> u64,
    /// Sets it; fails when the value does not fit the field.
    pub set: fn(&mut ChainParams, u64) -> Result<(), OutOfRange>,
}

fn small(name: &'static str, value: u64) -> Result<u32, OutOfRange> {
    u32::try_from(value).map_err(|_| OutOfRange { name, value })
}

/// Every parameter, in the order of its stored encoding (append only: the order is part of the
/// state layout).
pub const TABLE: [ParamDef; 26] = [
    ParamDef {
        param: ChainParam::BlockIntervalMs,
        name: "block_interval_ms",
        get: |p| p.block_interval_ms,
        set: |p, v| {
            p.block_interval_ms = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxBlockTxs,
        name: "max_block_txs",
        get: |p| u64::from(p.max_block_txs),
        set: |p, v| {
            p.max_block_txs = small("max_block_txs", v)?;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxTxBytes,
        name: "max_tx_bytes",
        get: |p| u64::from(p.max_tx_bytes),
        set: |p, v| {
            p.max_tx_bytes = small("max_tx_bytes", v)?;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxExpiryWindow,
        name: "max_expiry_window",
        get: |p| p.max_expiry_window,
        set: |p, v| {
            p.max_expiry_window = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::EmptyBlockIntervalMs,
        name: "empty_block_interval_ms",
        get: |p| p.empty_block_interval_ms,
        set: |p, v| {
            p.empty_block_interval_ms = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MinValidators,
        name: "min_validators",
        get: |p| u64::from(p.min_validators),
        set: |p, v| {
            p.min_validators = small("min_validators", v)?;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::GovThresholdNum,
        name: "gov_threshold_num",
        get: |p| u64::from(p.gov_threshold_num),
        set: |p, v| {
            p.gov_threshold_num = small("gov_threshold_num", v)?;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::GovThresholdDen,
        name: "gov_threshold_den",
        get: |p| u64::from(p.gov_threshold_den),
        set: |p, v| {
            p.gov_threshold_den = small("gov_threshold_den", v)?;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::KeyResetLockBlocks,
        name: "key_reset_lock_blocks",
        get: |p| p.key_reset_lock_blocks,
        set: |p, v| {
            p.key_reset_lock_blocks = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxVotingBlocks,
        name: "max_voting_blocks",
        get: |p| p.max_voting_blocks,
        set: |p, v| {
            p.max_voting_blocks = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::ProposeTimeoutMs,
        name: "propose_timeout_ms",
        get: |p| p.propose_timeout_ms,
        set: |p, v| {
            p.propose_timeout_ms = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::VoteTimeoutMs,
        name: "vote_timeout_ms",
        get: |p| p.vote_timeout_ms,
        set: |p, v| {
            p.vote_timeout_ms = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxCodeBytes,
        name: "max_code_bytes",
        get: |p| p.max_code_bytes,
        set: |p, v| {
            p.max_code_bytes = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxMemoryPages,
        name: "max_memory_pages",
        get: |p| p.max_memory_pages,
        set: |p, v| {
            p.max_memory_pages = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxCallDepth,
        name: "max_call_depth",
        get: |p| p.max_call_depth,
        set: |p, v| {
            p.max_call_depth = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxTxFuel,
        name: "max_tx_fuel",
        get: |p| p.max_tx_fuel,
        set: |p, v| {
            p.max_tx_fuel = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxBlockFuel,
        name: "max_block_fuel",
        get: |p| p.max_block_fuel,
        set: |p, v| {
            p.max_block_fuel = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxReturnBytes,
        name: "max_return_bytes",
        get: |p| p.max_return_bytes,
        set: |p, v| {
            p.max_return_bytes = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxContractEvents,
        name: "max_contract_events",
        get: |p| p.max_contract_events,
        set: |p, v| {
            p.max_contract_events = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxEventBytes,
        name: "max_event_bytes",
        get: |p| p.max_event_bytes,
        set: |p, v| {
            p.max_event_bytes = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxKeyBytes,
        name: "max_key_bytes",
        get: |p| p.max_key_bytes,
        set: |p, v| {
            p.max_key_bytes = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxValueBytes,
        name: "max_value_bytes",
        get: |p| p.max_value_bytes,
        set: |p, v| {
            p.max_value_bytes = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::ContractDeployPolicy,
        name: "contract_deploy_policy",
        get: |p| p.contract_deploy_policy,
        set: |p, v| {
            p.contract_deploy_policy = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxTxGas,
        name: "max_tx_gas",
        get: |p| p.max_tx_gas,
        set: |p, v| {
            p.max_tx_gas = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::MaxBlockGas,
        name: "max_block_gas",
        get: |p| p.max_block_gas,
        set: |p, v| {
            p.max_block_gas = v;
            Ok(())
        },
    },
    ParamDef {
        param: ChainParam::EvmDeniedOpcodes,
        name: "evm_denied_opcodes",
        get: |p| p.evm_denied_opcodes,
        set: |p, v| {
            p.evm_denied_opcodes = v;
            Ok(())
        },
    },
];

impl ChainParam {
    fn def(self) -> &'static ParamDef {
        TABLE.iter().find(|d| d.param == self).expect("invariant: every parameter has a row in TABLE (tested)")
    }

    /// Its name, as in genesis files and proposals.
    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The parameter called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        TABLE.iter().find(|d| d.name == name).map(|d| d.param)
    }

    /// Every parameter's name, comma-separated (for error messages).
    pub fn names() -> String {
        TABLE.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
    }

    /// Its value in `p`.
    pub fn get(self, p: &ChainParams) -> u64 {
        (self.def().get)(p)
    }

    /// Sets it in `p`.
    ///
    /// # Errors
    /// [`OutOfRange`] when `value` does not fit the field.
    pub fn set(self, p: &mut ChainParams, value: u64) -> Result<(), OutOfRange> {
        (self.def().set)(p, value)
    }
}

impl fmt::Display for ChainParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ChainParam {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ChainParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ChainParam::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("no parameter {s}; known: {}", ChainParam::names())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_reads_what_it_sets_and_names_are_unique() {
        for (i, def) in TABLE.iter().enumerate() {
            let mut p = ChainParams::default();
            (def.set)(&mut p, 77).expect("77 fits");
            assert_eq!((def.get)(&p), 77, "{}", def.name);
            assert_eq!(ChainParam::parse(def.name), Some(def.param));
            assert_eq!(def.param.name(), def.name);
            assert!(TABLE[..i].iter().all(|o| o.name != def.name && o.param != def.param));
        }
        let mut p = ChainParams::default();
        assert_eq!(
            ChainParam::MaxBlockTxs.set(&mut p, u64::MAX),
            Err(OutOfRange { name: "max_block_txs", value: u64::MAX })
        );
    }
}
