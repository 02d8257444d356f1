//! Chain parameters (`SetParam`): one table, [`fdl_types::chain_param::TABLE`], names each
//! parameter and sets it; [`check_params`] bounds the result as a whole.

use fdl_schema::{Marker, keys};
use fdl_types::{ChainParam, ChainParams};

use super::{Apply, Check, GovRefusal, Verdict, params};

/// Whether a parameter set is one the chain can run with, given `validators` active validators.
///
/// # Errors
/// The [`GovRefusal`] naming the first bound it breaks.
pub fn check_params(p: &ChainParams, validators: usize) -> Result<(), GovRefusal> {
    if p.gov_threshold_den == 0 || p.gov_threshold_num >= p.gov_threshold_den || p.gov_threshold_num == 0 {
        return Err(GovRefusal::BadThreshold);
    }
    if p.min_validators == 0 || p.min_validators as usize > validators {
        return Err(GovRefusal::MinValidatorsOutOfRange { max: validators });
    }
    if p.block_interval_ms == 0 || p.max_block_txs == 0 || p.max_block_txs as usize > fdl_types::block::MAX_BLOCK_TXS {
        return Err(GovRefusal::BlockLimitsOutOfRange);
    }
    if p.max_tx_bytes < 512 || p.max_tx_bytes as usize > fdl_types::block::MAX_TX_BYTES_HARD {
        return Err(GovRefusal::MaxTxBytesOutOfRange);
    }
    if u64::from(p.max_block_txs).saturating_mul(u64::from(p.max_tx_bytes)) > fdl_types::genesis::MAX_BLOCK_BYTES {
        return Err(GovRefusal::BlockBytesOutOfRange);
    }
    let timeout_ok = |t: u64| t == 0 || (100..=60_000).contains(&t);
    if !timeout_ok(p.propose_timeout_ms) || !timeout_ok(p.vote_timeout_ms) {
        return Err(GovRefusal::TimeoutOutOfRange);
    }
    if p.max_expiry_window == 0 || p.max_voting_blocks == 0 || p.max_voting_blocks > 100_000_000 {
        return Err(GovRefusal::WindowOutOfRange);
    }
    p.check_contract_limits().map_err(|reason| GovRefusal::ContractLimitsOutOfRange { reason })
}

/// `params` with `param` set to `value`.
fn with(mut p: ChainParams, param: ChainParam, value: u64) -> Result<ChainParams, GovRefusal> {
    param.set(&mut p, value).map_err(|_| GovRefusal::ParamOutOfRange { param })?;
    Ok(p)
}

/// `SetParam`: the value fits, and the parameters with it stay within bounds.
pub(crate) fn check_set(c: &Check<'_>, param: ChainParam, value: u64) -> Verdict {
    Ok(with(c.params.clone(), param, value).and_then(|next| check_params(&next, c.validators)))
}

/// `SetParam`: writes the parameter; a change of the threshold re-tallies open proposals.
pub(crate) fn apply_set(a: &mut Apply<'_, '_>, param: ChainParam, value: u64) -> Verdict {
    let next = match with(params(a.ov)?, param, value) {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    if matches!(param, ChainParam::GovThresholdNum | ChainParam::GovThresholdDen) {
        keys::retally().write(a.ov, &Marker);
    }
    keys::params().write(a.ov, &next);
    let pid = a.pid();
    a.event("param.set", vec![("param", param.name().to_string()), ("value", value.to_string()), ("proposal", pid)]);
    Ok(Ok(()))
}
