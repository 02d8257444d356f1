//! FDL's precompiles, next to Ethereum's standard set.

use crate::types::Address20;

const fn fd(low: u8) -> Address20 {
    let mut a = [0u8; 20];
    a[18] = 0xfd;
    a[19] = low;
    a
}

/// `0x…fd01`: SM3 of the input (32 bytes). Gas 60 + 12 per 32-byte word.
pub const SM3: Address20 = fd(0x01);
/// `0x…fd02`: SM2 verification with the default id `1234567812345678`. Input
/// `x(32) ‖ y(32) ‖ r(32) ‖ s(32) ‖ message`, output one word: 1 if valid, else 0.
/// Gas 5,000 + 12 per message word.
pub const SM2_VERIFY: Address20 = fd(0x02);
/// `0x…fd03`: SM2 verification with a given id. Input
/// `x ‖ y ‖ r ‖ s ‖ idlen(word, ≤ 1024) ‖ id ‖ message`; output and gas as [`SM2_VERIFY`].
pub const SM2_VERIFY_ID: Address20 = fd(0x03);
/// `0x…fd04`: the member behind an address (one ABI `address` word): output
/// `abi.encode(string institution, string role)`, empty strings for a non-member. Gas 2,600.
pub const IDENTITY: Address20 = fd(0x04);

/// Every FDL precompile.
pub const ALL: [Address20; 4] = [SM3, SM2_VERIFY, SM2_VERIFY_ID, IDENTITY];

/// Gas of [`SM3`]: base.
pub const SM3_BASE_GAS: u64 = 60;
/// Gas of [`SM3`]: per 32-byte input word.
pub const SM3_WORD_GAS: u64 = 12;
/// Gas of [`SM2_VERIFY`] and [`SM2_VERIFY_ID`]: base.
pub const SM2_BASE_GAS: u64 = 5_000;
/// Gas of [`SM2_VERIFY`] and [`SM2_VERIFY_ID`]: per 32-byte message word.
pub const SM2_WORD_GAS: u64 = 12;
/// Gas of [`IDENTITY`].
pub const IDENTITY_GAS: u64 = 2_600;
/// Longest distinguishing id [`SM2_VERIFY_ID`] accepts.
pub const MAX_SM2_ID_BYTES: usize = 1024;
/// The default SM2 distinguishing id (GB/T 32918).
pub const SM2_DEFAULT_ID: &str = "1234567812345678";

pub(crate) mod provider {
    //! The precompile provider: Ethereum's set for the spec, then FDL's.

    use revm::context::{BlockEnv, CfgEnv, Context, Journal, TxEnv};
    use revm::context_interface::ContextTr;
    use revm::handler::{EthPrecompiles, PrecompileProvider};
    use revm::interpreter::{CallInputs, Gas, InstructionResult, InterpreterResult};
    use revm::primitives::hardfork::SpecId;
    use revm::primitives::{Address, AddressSet, Bytes};

    use super::*;
    use crate::db::HostDb;
    use crate::types::{HostError, Member};

    /// The context type of every run.
    pub(crate) type Ctx<'h> = Context<BlockEnv, TxEnv, CfgEnv, HostDb<'h>, Journal<HostDb<'h>>, ()>;

    /// Ethereum's precompiles for the spec plus FDL's.
    pub(crate) struct FdlPrecompiles {
        eth: EthPrecompiles,
        warm: AddressSet,
    }

    impl FdlPrecompiles {
        pub(crate) fn new(spec: SpecId) -> Self {
            let eth = EthPrecompiles::new(spec);
            let mut warm = eth.warm_addresses().clone();
            for a in ALL {
                warm.insert(Address::from(a));
            }
            Self { eth, warm }
        }

        /// Whether `address` is a precompile (Ethereum's or FDL's).
        pub(crate) fn is_precompile(&self, address: &Address) -> bool {
            self.warm.contains(address)
        }
    }

    /// A precompile's result: `output` if `cost` fits in `gas_limit`, else out of gas.
    fn charged(gas_limit: u64, cost: u64, output: Vec<u8>) -> InterpreterResult {
        let mut gas = Gas::new(gas_limit);
        if !gas.record_regular_cost(cost) {
            gas.spend_all();
            return InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), gas);
        }
        InterpreterResult::new(InstructionResult::Return, Bytes::from(output), gas)
    }

    fn words(len: usize) -> u64 {
        len.div_ceil(32) as u64
    }

    fn word_bool(b: bool) -> Vec<u8> {
        let mut w = vec![0u8; 32];
        w[31] = u8::from(b);
        w
    }

    impl<'h> PrecompileProvider<Ctx<'h>> for FdlPrecompiles {
        type Output = InterpreterResult;

        fn set_spec(&mut self, spec: SpecId) -> bool {
            let changed = <EthPrecompiles as PrecompileProvider<Ctx<'h>>>::set_spec(&mut self.eth, spec);
            if changed {
                *self = Self::new(spec);
            }
            changed
        }

        fn run(&mut self, context: &mut Ctx<'h>, inputs: &CallInputs) -> Result<Option<InterpreterResult>, String> {
            let addr: Address20 = inputs.bytecode_address.into_array();
            if !ALL.contains(&addr) {
                return <EthPrecompiles as PrecompileProvider<Ctx<'h>>>::run(&mut self.eth, context, inputs);
            }
            let input = inputs.input.as_bytes(context).to_vec();
            let gas_limit = inputs.gas_limit;
            let result = match addr {
                SM3 => {
                    let cost = SM3_BASE_GAS + SM3_WORD_GAS * words(input.len());
                    if cost > gas_limit {
                        charged(gas_limit, cost, Vec::new())
                    } else {
                        charged(gas_limit, cost, sm3_digest(&input).to_vec())
                    }
                }
                SM2_VERIFY | SM2_VERIFY_ID => {
                    let (id, msg_len) = if addr == SM2_VERIFY {
                        (Some(SM2_DEFAULT_ID.as_bytes()), input.len().saturating_sub(128))
                    } else {
                        split_id(&input).map_or((None, 0), |(id, msg)| (Some(id), msg.len()))
                    };
                    let cost = SM2_BASE_GAS + SM2_WORD_GAS * words(msg_len);
                    if cost > gas_limit {
                        charged(gas_limit, cost, Vec::new())
                    } else {
                        let ok = id.is_some_and(|id| {
                            let msg = &input[input.len() - msg_len..];
                            sm2_verify(&input, id, msg)
                        });
                        charged(gas_limit, cost, word_bool(ok))
                    }
                }
                _ => {
                    // IDENTITY
                    if IDENTITY_GAS > gas_limit {
                        charged(gas_limit, IDENTITY_GAS, Vec::new())
                    } else {
                        let mut who = [0u8; 20];
                        if input.len() >= 32 {
                            who.copy_from_slice(&input[12..32]);
                        }
                        let member = if input.len() == 32 && input[..12].iter().all(|b| *b == 0) {
                            match context.db_mut().host.identity(&who) {
                                Ok(m) => m,
                                Err(e) => return Err(host_failed(context, e)),
                            }
                        } else {
                            None
                        };
                        charged(gas_limit, IDENTITY_GAS, encode_member(member.as_ref()))
                    }
                }
            };
            Ok(Some(result))
        }

        fn warm_addresses(&self) -> &AddressSet {
            &self.warm
        }

        fn contains(&self, address: &Address) -> bool {
            self.warm.contains(address)
        }
    }

    fn host_failed(context: &mut Ctx<'_>, e: HostError) -> String {
        let message = e.to_string();
        context.db_mut().record(e);
        message
    }

    /// `abi.encode(string org, string role)`; empty strings for no member.
    pub(crate) fn encode_member(member: Option<&Member>) -> Vec<u8> {
        use alloy_dyn_abi::DynSolValue;
        let (org, role) = member.map_or((String::new(), String::new()), |m| (m.org.clone(), m.role.clone()));
        DynSolValue::Tuple(vec![DynSolValue::String(org), DynSolValue::String(role)]).abi_encode_params()
    }
}

/// SM3 of `data`.
pub(crate) fn sm3_digest(data: &[u8]) -> [u8; 32] {
    use sm3::Digest as _;
    sm3::Sm3::digest(data).into()
}

/// The id and message of an [`SM2_VERIFY_ID`] input, `None` when malformed.
fn split_id(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let word = input.get(128..160)?;
    if word[..24].iter().any(|b| *b != 0) {
        return None;
    }
    let len = u64::from_be_bytes(word[24..32].try_into().ok()?);
    let len = usize::try_from(len).ok().filter(|l| *l <= MAX_SM2_ID_BYTES)?;
    let id = input.get(160..160 + len)?;
    Some((id, &input[160 + len..]))
}

/// Whether `input[..128]` (x, y, r, s) is a valid SM2 signature of `msg` with distinguishing `id`.
/// Any malformed part (short input, key off the curve, r or s out of range, id not UTF-8) is false.
fn sm2_verify(input: &[u8], id: &[u8], msg: &[u8]) -> bool {
    use sm2::dsa::signature::Verifier as _;
    if input.len() < 128 {
        return false;
    }
    let Ok(id) = std::str::from_utf8(id) else { return false };
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..].copy_from_slice(&input[..64]);
    let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(id, &sec1) else { return false };
    let Ok(signature) = sm2::dsa::Signature::from_slice(&input[64..128]) else { return false };
    key.verify(msg, &signature).is_ok()
}
