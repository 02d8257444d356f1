//! A multi-institution escrow: the template of an FDL contract that calls another contract.
//!
//! The escrow holds tokens of a token contract (its own balance there: anyone funds it with a
//! `transfer` to this contract's address). An escrow is released to its beneficiary once admins
//! of two distinct institutions among its approvers have approved it.
//!
//! Methods:
//! - `open {"id": N, "beneficiary": ADDRESS, "amount": N, "approvers": ["org1", "org2"],
//!   "token": "token"}`: by an admin of the institution that owns this contract; `token` (the
//!   token contract's name) is optional, `"token"` by default; at least two distinct approvers.
//!   Failures: `not_admin`, `zero_amount`, `bad_approvers`, `escrow_exists`.
//! - `approve {"id": N}`: by an admin of one of the approver institutions. The second
//!   institution's approval releases the escrow: `transfer {"to": beneficiary, "amount": amount}`
//!   on the token contract, paid from this contract's balance. Failures: `unknown_escrow`,
//!   `not_approver`, `already_approved`, `already_released`, `cancelled`, and `payment_failed`
//!   (the token refused: nothing of the approval remains, it can be retried once funded).
//! - `cancel {"id": N}`: by an admin of the owning institution, while open (`not_admin`,
//!   `unknown_escrow`, `already_released`, `cancelled`).
//! - `status {"id": N}` → the escrow as a JSON object (`unknown_escrow`).
//!
//! Events: `opened`, `approved`, `released`, `cancelled`, each with `{"id", ...}`.

#![no_std]

extern crate alloc;

use fdl_contract::prelude::*;

/// Where an escrow stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Waiting for approvals.
    Open,
    /// Paid to the beneficiary.
    Released,
    /// Cancelled by the owner; never paid.
    Cancelled,
}

// A manual `ToJson`/`FromJson`/`Codec` (what `json_object!` writes for structs): a string in
// JSON, one byte in storage.
impl State {
    fn name(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Released => "released",
            State::Cancelled => "cancelled",
        }
    }
}

impl ToJson for State {
    fn to_json(&self) -> Json {
        Json::from(self.name())
    }
}

impl FromJson for State {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value.as_str() {
            Some("open") => Ok(State::Open),
            Some("released") => Ok(State::Released),
            Some("cancelled") => Ok(State::Cancelled),
            _ => Err(JsonError::new("expected \"open\", \"released\" or \"cancelled\"")),
        }
    }
}

impl Codec for State {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self {
            State::Open => 0,
            State::Released => 1,
            State::Cancelled => 2,
        });
    }

    fn decode(input: &mut &[u8]) -> Option<Self> {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        match b {
            0 => Some(State::Open),
            1 => Some(State::Released),
            2 => Some(State::Cancelled),
            _ => None,
        }
    }
}

json_object! {
    /// An escrow, as stored and as `status` returns it.
    #[derive(Clone, PartialEq, Eq, Debug)]
    pub struct Escrow {
        /// Its id.
        pub id: u64,
        /// Who is paid on release.
        pub beneficiary: Address,
        /// How much.
        pub amount: u128,
        /// The token contract's name.
        pub token: String,
        /// The institutions whose admins may approve.
        pub approvers: Vec<String>,
        /// The institutions that approved, in order.
        pub approved_by: Vec<String>,
        /// Where it stands.
        pub state: State,
        /// The admin who opened it.
        pub opened_by: Address,
    }
}

/// The escrows, by id.
const ESCROWS: Map<u64, Escrow> = Map::new(b"escrow/");

/// How many distinct institutions must approve.
pub const APPROVALS_NEEDED: usize = 2;

fn require_owner_admin() -> Result<Identity, Error> {
    let caller = caller();
    let owner_org = this().org;
    ensure!(caller.is_admin_of(&owner_org), "not_admin", format!("only an admin of {owner_org} may do this"));
    Ok(caller)
}

fn load(id: u64) -> Result<Escrow, Error> {
    ESCROWS.get(&id).ok_or_else(|| Error::new("unknown_escrow", format!("no escrow {id}")))
}

fn require_open(escrow: &Escrow) -> Result<(), Error> {
    match escrow.state {
        State::Open => Ok(()),
        State::Released => Err(Error::new("already_released", format!("escrow {} was released", escrow.id))),
        State::Cancelled => Err(Error::new("cancelled", format!("escrow {} was cancelled", escrow.id))),
    }
}

method! {
    /// Opens escrow `id`: `amount` for `beneficiary` once two of `approvers` approved.
    pub fn open(
        id: u64,
        beneficiary: Address,
        amount: u128,
        approvers: Vec<String>,
        token: Option<String>,
    ) -> Result<(), Error> {
        let admin = require_owner_admin()?;
        ensure!(amount > 0, "zero_amount", "the amount must be positive");
        ensure!(!ESCROWS.contains(&id), "escrow_exists", format!("escrow {id} exists"));
        let mut distinct = approvers.clone();
        distinct.sort_unstable();
        distinct.dedup();
        ensure!(
            distinct.len() == approvers.len() && !approvers.iter().any(String::is_empty),
            "bad_approvers",
            "the approvers must be distinct, non-empty institution names"
        );
        ensure!(
            approvers.len() >= APPROVALS_NEEDED,
            "bad_approvers",
            "at least two approver institutions are needed"
        );
        let token = token.unwrap_or_else(|| "token".into());
        ensure!(!token.is_empty(), "bad_token", "the token contract's name is empty");
        let escrow = Escrow {
            id,
            beneficiary,
            amount,
            token,
            approvers,
            approved_by: Vec::new(),
            state: State::Open,
            opened_by: admin.address,
        };
        ESCROWS.set(&id, &escrow);
        emit("opened", &escrow);
        Ok(())
    }

    /// Approves escrow `id` for the caller's institution; the second institution releases it.
    pub fn approve(id: u64) -> Result<Json, Error> {
        let mut escrow = load(id)?;
        require_open(&escrow)?;
        let caller = caller();
        ensure!(
            !caller.is_contract && caller.role == "admin" && escrow.approvers.contains(&caller.org),
            "not_approver",
            format!("only an admin of an approver institution may approve escrow {id}")
        );
        ensure!(
            !escrow.approved_by.contains(&caller.org),
            "already_approved",
            format!("{} already approved escrow {id}", caller.org)
        );
        escrow.approved_by.push(caller.org.clone());
        emit("approved", &Json::object().field("id", &id).field("org", &caller.org).field("by", &caller.address));
        if escrow.approved_by.len() >= APPROVALS_NEEDED {
            // State first, then the call: the token cannot call back into a still-open escrow.
            escrow.state = State::Released;
            ESCROWS.set(&id, &escrow);
            let payment = Json::object().field("to", &escrow.beneficiary).field("amount", &escrow.amount);
            if let Err(e) = call(&escrow.token, "transfer", &payment) {
                return Err(Error::new(
                    "payment_failed",
                    format!("{}.transfer failed: {}: {}", escrow.token, e.code, e.message),
                ));
            }
            emit(
                "released",
                &Json::object().field("id", &id).field("to", &escrow.beneficiary).field("amount", &escrow.amount),
            );
        } else {
            ESCROWS.set(&id, &escrow);
        }
        Ok(escrow.state.to_json())
    }

    /// Cancels escrow `id` (the owner institution's admins only, while open).
    pub fn cancel(id: u64) -> Result<(), Error> {
        require_owner_admin()?;
        let mut escrow = load(id)?;
        require_open(&escrow)?;
        escrow.state = State::Cancelled;
        ESCROWS.set(&id, &escrow);
        emit("cancelled", &Json::object().field("id", &id));
        Ok(())
    }

    /// Escrow `id`, as a JSON object.
    pub fn status(id: u64) -> Result<Escrow, Error> {
        load(id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;

    use super::*;
    use fdl_contract::testing::{CallResult, TestEnv, account};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::string::ToString;

    fn failure(code: &str, message: &str) -> CallResult {
        Err((code.into(), message.into()))
    }

    struct World {
        env: TestEnv,
        owner: Identity,
        org2: Identity,
        org3: Identity,
        bob: Identity,
        /// The token calls the escrow made: (method, args).
        paid: Rc<RefCell<Vec<(String, String)>>>,
    }

    /// An escrow contract owned by org1; the `token` contract is a mock that records payments.
    fn world() -> World {
        let env = TestEnv::new().with_contract("escrow", "org1");
        let paid = Rc::new(RefCell::new(Vec::new()));
        let record = paid.clone();
        env.mock_contract("token", move |method, args| {
            record.borrow_mut().push((method.to_string(), args.to_string()));
            Ok(String::new())
        });
        World {
            env,
            owner: account(1, "org1", "admin"),
            org2: account(2, "org2", "admin"),
            org3: account(3, "org3", "admin"),
            bob: account(9, "org4", "client"),
            paid,
        }
    }

    fn open_args(w: &World, id: u64) -> String {
        format!(r#"{{"id": {id}, "beneficiary": "{}", "amount": 500, "approvers": ["org2", "org3"]}}"#, w.bob.address)
    }

    #[test]
    fn two_institutions_release_it() {
        let w = world();
        assert_eq!(w.env.call_as(&w.owner, open, &open_args(&w, 7)), Ok(String::new()));
        assert_eq!(w.env.call_as(&w.org2, approve, r#"{"id": 7}"#), Ok(r#""open""#.into()));
        assert!(w.paid.borrow().is_empty());
        assert_eq!(w.env.call_as(&w.org3, approve, r#"{"id": 7}"#), Ok(r#""released""#.into()));
        assert_eq!(
            *w.paid.borrow(),
            [("transfer".to_string(), format!(r#"{{"to":"{}","amount":500}}"#, w.bob.address))]
        );
        let kinds: Vec<String> = w.env.events().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["opened", "approved", "approved", "released"]);
        let status = w.env.call(status, r#"{"id": 7}"#).expect("status");
        assert_eq!(
            status,
            format!(
                r#"{{"id":7,"beneficiary":"{}","amount":500,"token":"token","approvers":["org2","org3"],"approved_by":["org2","org3"],"state":"released","opened_by":"{}"}}"#,
                w.bob.address, w.owner.address
            )
        );
        // Released: no more approvals, no cancel.
        assert_eq!(
            w.env.call_as(&w.org2, approve, r#"{"id": 7}"#),
            failure("already_released", "escrow 7 was released")
        );
        assert_eq!(
            w.env.call_as(&w.owner, cancel, r#"{"id": 7}"#),
            failure("already_released", "escrow 7 was released")
        );
        assert_eq!(w.paid.borrow().len(), 1);
    }

    #[test]
    fn approvals_are_checked() {
        let w = world();
        w.env.call_as(&w.owner, open, &open_args(&w, 1)).expect("open");
        assert_eq!(w.env.call_as(&w.org2, approve, r#"{"id": 2}"#), failure("unknown_escrow", "no escrow 2"));
        let not_approver = failure("not_approver", "only an admin of an approver institution may approve escrow 1");
        // The owner institution is not among the approvers; a client of one is not an admin.
        assert_eq!(w.env.call_as(&w.owner, approve, r#"{"id": 1}"#), not_approver);
        assert_eq!(w.env.call_as(&account(5, "org2", "client"), approve, r#"{"id": 1}"#), not_approver);
        w.env.call_as(&w.org2, approve, r#"{"id": 1}"#).expect("approve");
        // Another admin of the same institution: the same institution twice.
        assert_eq!(
            w.env.call_as(&account(6, "org2", "admin"), approve, r#"{"id": 1}"#),
            failure("already_approved", "org2 already approved escrow 1")
        );
        assert!(w.paid.borrow().is_empty());
        assert_eq!(w.env.with(|| ESCROWS.get(&1)).map(|e| e.approved_by), Some(vec!["org2".to_string()]));
    }

    #[test]
    fn opening_is_checked() {
        let w = world();
        let bob = w.bob.address;
        assert_eq!(
            w.env.call_as(&w.org2, open, &open_args(&w, 1)),
            failure("not_admin", "only an admin of org1 may do this")
        );
        for (approvers, message) in [
            (r#"["org2"]"#, "at least two approver institutions are needed"),
            (r#"["org2", "org2"]"#, "the approvers must be distinct, non-empty institution names"),
            (r#"["org2", ""]"#, "the approvers must be distinct, non-empty institution names"),
        ] {
            let args = format!(r#"{{"id": 1, "beneficiary": "{bob}", "amount": 5, "approvers": {approvers}}}"#);
            assert_eq!(w.env.call_as(&w.owner, open, &args), failure("bad_approvers", message), "{approvers}");
        }
        let args = format!(r#"{{"id": 1, "beneficiary": "{bob}", "amount": 0, "approvers": ["a", "b"]}}"#);
        assert_eq!(w.env.call_as(&w.owner, open, &args), failure("zero_amount", "the amount must be positive"));
        let args = format!(r#"{{"id": 1, "beneficiary": "{bob}", "amount": 5, "approvers": ["a", 2]}}"#);
        assert_eq!(
            w.env.call_as(&w.owner, open, &args),
            failure("bad_args", "argument \"approvers\": [1]: expected a string")
        );
        w.env.call_as(&w.owner, open, &open_args(&w, 1)).expect("open");
        assert_eq!(w.env.call_as(&w.owner, open, &open_args(&w, 1)), failure("escrow_exists", "escrow 1 exists"));
        assert!(w.env.call(status, r#"{"id": 1}"#).expect("status").contains(r#""token":"token""#));
        let args =
            format!(r#"{{"id": 2, "beneficiary": "{bob}", "amount": 5, "approvers": ["a", "b"], "token": "cny"}}"#);
        w.env.call_as(&w.owner, open, &args).expect("open with a token");
        assert!(w.env.call(status, r#"{"id": 2}"#).expect("status").contains(r#""token":"cny""#));
        assert_eq!(w.env.call(status, r#"{"id": 3}"#), failure("unknown_escrow", "no escrow 3"));
    }

    #[test]
    fn cancel_stops_it() {
        let w = world();
        w.env.call_as(&w.owner, open, &open_args(&w, 1)).expect("open");
        assert_eq!(
            w.env.call_as(&w.org2, cancel, r#"{"id": 1}"#),
            failure("not_admin", "only an admin of org1 may do this")
        );
        assert_eq!(w.env.call_as(&w.owner, cancel, r#"{"id": 1}"#), Ok(String::new()));
        assert_eq!(w.env.call_as(&w.owner, cancel, r#"{"id": 1}"#), failure("cancelled", "escrow 1 was cancelled"));
        assert_eq!(w.env.call_as(&w.org2, approve, r#"{"id": 1}"#), failure("cancelled", "escrow 1 was cancelled"));
        assert!(w.env.call(status, r#"{"id": 1}"#).expect("status").contains(r#""state":"cancelled""#));
    }

    #[test]
    fn a_refused_payment_undoes_the_approval() {
        let w = world();
        w.env.mock_contract("token", |_, _| Err(("insufficient_balance".into(), "the balance is 0, below 500".into())));
        w.env.call_as(&w.owner, open, &open_args(&w, 1)).expect("open");
        w.env.call_as(&w.org2, approve, r#"{"id": 1}"#).expect("approve");
        let events = w.env.events().len();
        assert_eq!(
            w.env.call_as(&w.org3, approve, r#"{"id": 1}"#),
            failure("payment_failed", "token.transfer failed: insufficient_balance: the balance is 0, below 500")
        );
        let escrow = w.env.with(|| ESCROWS.get(&1)).expect("stored");
        assert_eq!((escrow.state, escrow.approved_by.len()), (State::Open, 1));
        assert_eq!(w.env.events().len(), events);
        // Funded, the same approval goes through.
        w.env.mock_contract("token", |_, _| Ok(String::new()));
        assert_eq!(w.env.call_as(&w.org3, approve, r#"{"id": 1}"#), Ok(r#""released""#.into()));
    }

    /// The real token contract behind the mock: the escrow pays from its own balance.
    #[test]
    fn pays_with_the_real_token() {
        let w = world();
        let token = TestEnv::new().with_contract("token", "org1");
        let escrow_id = w.env.contract();
        let token_handle = token.clone();
        w.env.mock_contract("token", move |method, args| {
            let f: fn() = match method {
                "transfer" => fdl_token::transfer,
                _ => return Err(("unknown_method".into(), method.into())),
            };
            token_handle.call_as(&escrow_id, f, args)
        });
        let fund = format!(r#"{{"to": "{}", "amount": 800}}"#, w.env.contract().address);
        token.call_as(&w.owner, fdl_token::mint, &fund).expect("fund the escrow");

        w.env.call_as(&w.owner, open, &open_args(&w, 1)).expect("open");
        w.env.call_as(&w.org2, approve, r#"{"id": 1}"#).expect("approve");
        w.env.call_as(&w.org3, approve, r#"{"id": 1}"#).expect("release");
        let balance = |who: Address| token.call(fdl_token::balance_of, &format!(r#"{{"owner": "{who}"}}"#));
        assert_eq!(balance(w.bob.address), Ok("500".into()));
        assert_eq!(balance(w.env.contract().address), Ok("300".into()));

        // A second escrow larger than what is left: the token refuses, nothing changes.
        let args =
            format!(r#"{{"id": 2, "beneficiary": "{}", "amount": 301, "approvers": ["org2", "org3"]}}"#, w.bob.address);
        w.env.call_as(&w.owner, open, &args).expect("open");
        w.env.call_as(&w.org2, approve, r#"{"id": 2}"#).expect("approve");
        assert_eq!(w.env.call_as(&w.org3, approve, r#"{"id": 2}"#).unwrap_err().0, "payment_failed");
        assert_eq!(balance(w.bob.address), Ok("500".into()));
    }
}
