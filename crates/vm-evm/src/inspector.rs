//! The inspector that applies FDL's policy inside a run: the top-level frame's `msg.sender`,
//! static mode and fixed creation address; nested calls checked by the host; CREATE refused.

use revm::context::ContextTr as _;
use revm::context_interface::CreateScheme;
use revm::context_interface::JournalTr as _;
use revm::inspector::Inspector;
use revm::interpreter::Interpreter;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::{
    CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome, Gas, InstructionResult, InterpreterResult,
};
use revm::primitives::{Address, Bytes};

use crate::precompile::provider::{Ctx, FdlPrecompiles};
use crate::types::{Address20, RefusedCall};

/// The policy state of one run.
pub(crate) struct FdlInspector {
    /// `msg.sender` of the top-level frame (the tx's caller is `tx.origin`).
    pub(crate) caller: Address,
    /// The created contract's address, for a create run.
    pub(crate) create_at: Option<Address>,
    /// Static mode for the top-level frame.
    pub(crate) read_only: bool,
    pub(crate) max_call_depth: u32,
    pub(crate) precompiles: FdlPrecompiles,
    /// Refused nested calls and creations, in order.
    pub(crate) refusals: Vec<RefusedCall>,
    /// Whether a CREATE/CREATE2 was refused in the run.
    pub(crate) create_refused: bool,
}

fn refused_call(inputs: &CallInputs) -> CallOutcome {
    let gas = Gas::new_with_regular_gas_and_reservoir(inputs.gas_limit, inputs.reservoir);
    CallOutcome::new(
        InterpreterResult::new(InstructionResult::Revert, Bytes::new(), gas),
        inputs.return_memory_offset.clone(),
    )
}

impl<'h> Inspector<Ctx<'h>, EthInterpreter> for FdlInspector {
    fn call(&mut self, context: &mut Ctx<'h>, inputs: &mut CallInputs) -> Option<CallOutcome> {
        let depth = context.journal().depth();
        if depth == 0 {
            inputs.caller = self.caller;
            if self.read_only {
                inputs.is_static = true;
            }
            return None;
        }
        if self.precompiles.is_precompile(&inputs.bytecode_address) {
            return None;
        }
        // The contract making the call: under DELEGATECALL the frame keeps the parent's sender,
        // and the contract whose code runs the opcode is the target (the running context).
        let caller: Address20 = match inputs.scheme {
            CallScheme::DelegateCall => inputs.target_address.into_array(),
            _ => inputs.caller.into_array(),
        };
        let callee: Address20 = inputs.bytecode_address.into_array();
        let input = inputs.input.as_bytes(context).to_vec();
        let selector = input.get(..4).map(|s| [s[0], s[1], s[2], s[3]]);
        let depth = u32::try_from(depth).unwrap_or(u32::MAX);
        let refusal = if depth > self.max_call_depth {
            Some(("call_depth".to_owned(), format!("nested call depth {depth} over the limit {}", self.max_call_depth)))
        } else {
            match context.db_mut().host.check_call(&caller, &callee, &input, depth) {
                Ok(Ok(())) => None,
                Ok(Err(r)) => Some((r.code, r.message)),
                Err(e) => {
                    // The run ends as this host error; make the call fail meanwhile.
                    context.db_mut().record(e);
                    return Some(refused_call(inputs));
                }
            }
        };
        let (code, message) = refusal?;
        self.refusals.push(RefusedCall { caller, callee, selector, code, message });
        Some(refused_call(inputs))
    }

    /// The governed creation runs over the contract's storage as it is: for an upgrade, the kept
    /// storage, which the new version's constructor (the migration) reads and may clear. revm
    /// answers zero for every slot of an account it created, without reading the host, so the
    /// top-level creation's account is unmarked once its frame starts (the collision check has
    /// passed by then; for a first deploy the host answers zero anyway).
    fn initialize_interp(&mut self, _interp: &mut Interpreter<EthInterpreter>, context: &mut Ctx<'h>) {
        if let Some(at) = self.create_at
            && context.journal().depth() == 1
            && let Some(account) = context.journal_mut().evm_state_mut().get_mut(&at)
        {
            account.unmark_created();
        }
    }

    fn create(&mut self, context: &mut Ctx<'h>, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        if context.journal().depth() == 0
            && let Some(at) = self.create_at
        {
            // The governed deploy: the executor's address, not one derived from a nonce.
            inputs.set_scheme(CreateScheme::Custom { address: at });
            inputs.set_call(self.caller);
            return None;
        }
        self.create_refused = true;
        let opcode = match inputs.scheme() {
            CreateScheme::Create2 { .. } => "CREATE2",
            _ => "CREATE",
        };
        self.refusals.push(RefusedCall {
            caller: inputs.caller().into_array(),
            callee: [0; 20],
            selector: None,
            code: "create_refused".to_owned(),
            message: format!("{opcode} refused: contracts are created only by a governed deploy"),
        });
        let gas = Gas::new_with_regular_gas_and_reservoir(inputs.gas_limit(), inputs.reservoir());
        Some(CreateOutcome::new(InterpreterResult::new(InstructionResult::Revert, Bytes::new(), gas), None))
    }
}
