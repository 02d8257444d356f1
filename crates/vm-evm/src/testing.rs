//! An in-memory [`Host`] for tests (this crate's, the executor's, Solidity tests).

use std::collections::BTreeMap;

use crate::types::{Address20, ContractCode, Host, HostError, Member, Refusal, Word};

/// A nested-call policy: `(caller, callee, input, depth)` → refusal or not.
pub type CallPolicy = Box<dyn FnMut(&Address20, &Address20, &[u8], u32) -> Result<(), Refusal> + Send>;

/// An in-memory host: code, storage and members in `BTreeMap`s, and a call policy.
#[derive(Default)]
pub struct MockHost {
    /// Code by address.
    pub code: BTreeMap<Address20, ContractCode>,
    /// Storage by (address, slot).
    pub storage: BTreeMap<(Address20, Word), Word>,
    /// Members by address.
    pub members: BTreeMap<Address20, Member>,
    /// The policy on nested calls; `None` allows every call.
    pub policy: Option<CallPolicy>,
    /// Every nested call checked, in order: (caller, callee, depth).
    pub checked: Vec<(Address20, Address20, u32)>,
    /// When set, every host method fails with this message.
    pub fail: Option<String>,
}

impl MockHost {
    /// An empty host.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deploys runtime `code` at `address`.
    pub fn set_code(&mut self, address: Address20, code: Vec<u8>) {
        self.code.insert(address, ContractCode::new(code));
    }

    /// Applies a run's writes.
    pub fn apply(&mut self, writes: &[(Address20, Word, Word)]) {
        for (a, s, v) in writes {
            self.storage.insert((*a, *s), *v);
        }
    }

    fn check(&self) -> Result<(), HostError> {
        match &self.fail {
            Some(m) => Err(HostError(m.clone())),
            None => Ok(()),
        }
    }
}

impl Host for MockHost {
    fn code_at(&mut self, address: &Address20) -> Result<Option<ContractCode>, HostError> {
        self.check()?;
        Ok(self.code.get(address).cloned())
    }

    fn storage(&mut self, address: &Address20, slot: &Word) -> Result<Word, HostError> {
        self.check()?;
        Ok(self.storage.get(&(*address, *slot)).copied().unwrap_or([0; 32]))
    }

    fn identity(&mut self, address: &Address20) -> Result<Option<Member>, HostError> {
        self.check()?;
        Ok(self.members.get(address).cloned())
    }

    fn check_call(
        &mut self,
        caller: &Address20,
        callee: &Address20,
        input: &[u8],
        depth: u32,
    ) -> Result<Result<(), Refusal>, HostError> {
        self.check()?;
        self.checked.push((*caller, *callee, depth));
        Ok(match &mut self.policy {
            Some(p) => p(caller, callee, input, depth),
            None => Ok(()),
        })
    }
}
