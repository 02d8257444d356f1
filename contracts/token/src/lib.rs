//! A fungible token: the template of an FDL contract written with `fdl-contract`.
//!
//! Methods (arguments and results are JSON; amounts are `u128`, as JSON numbers, or decimal
//! strings for clients that cannot hold them):
//! - `mint {"to": ADDRESS, "amount": N}`: only an `admin` of the institution that owns the
//!   contract (the deployer's) may mint (else `not_admin`);
//! - `transfer {"to": ADDRESS, "amount": N}`: from the caller, an account or a contract
//!   (`insufficient_balance`, `zero_amount`);
//! - `balance_of {"owner": ADDRESS}` → `N`;
//! - `total_supply {}` → `N`.
//!
//! Events: `minted {"to", "amount", "total_supply"}` and `transferred {"from", "to", "amount"}`.
//! All arithmetic is checked: a sum that would pass `u128::MAX` fails with `overflow`.

#![no_std]

extern crate alloc;

use fdl_contract::prelude::*;

/// The balances, by owner.
const BALANCES: Map<Address, u128> = Map::new(b"bal/");
/// The sum of all balances.
const SUPPLY: Value<u128> = Value::new(b"supply");

json_object! {
    /// The data of a `minted` event.
    pub struct Minted {
        /// Who received the new tokens.
        pub to: Address,
        /// How many.
        pub amount: u128,
        /// The supply after the mint.
        pub total_supply: u128,
    }

    /// The data of a `transferred` event.
    pub struct Transferred {
        /// The payer (the caller).
        pub from: Address,
        /// The payee.
        pub to: Address,
        /// How many.
        pub amount: u128,
    }
}

fn overflow() -> Error {
    Error::new("overflow", "the amount would overflow the balance or the supply")
}

fn balance(owner: &Address) -> u128 {
    BALANCES.get(owner).unwrap_or(0)
}

method! {
    /// Creates `amount` new tokens for `to`. Only an admin of the owning institution may.
    pub fn mint(to: Address, amount: u128) -> Result<(), Error> {
        let owner_org = this().org;
        ensure!(caller().is_admin_of(&owner_org), "not_admin", format!("only an admin of {owner_org} may mint"));
        ensure!(amount > 0, "zero_amount", "the amount must be positive");
        let total_supply = SUPPLY.get_or_default().checked_add(amount).ok_or_else(overflow)?;
        let new_balance = balance(&to).checked_add(amount).ok_or_else(overflow)?;
        SUPPLY.set(&total_supply);
        BALANCES.set(&to, &new_balance);
        emit("minted", &Minted { to, amount, total_supply });
        Ok(())
    }

    /// Moves `amount` of the caller's tokens to `to`.
    pub fn transfer(to: Address, amount: u128) -> Result<(), Error> {
        ensure!(amount > 0, "zero_amount", "the amount must be positive");
        let from = caller().address;
        let have = balance(&from);
        let Some(left) = have.checked_sub(amount) else {
            return Err(Error::new("insufficient_balance", format!("the balance is {have}, below {amount}")));
        };
        BALANCES.set(&from, &left);
        // Read after the debit: a transfer to oneself leaves the balance as it was.
        let received = balance(&to).checked_add(amount).ok_or_else(overflow)?;
        BALANCES.set(&to, &received);
        emit("transferred", &Transferred { from, to, amount });
        Ok(())
    }

    /// The balance of `owner` (0 for an unknown owner).
    pub fn balance_of(owner: Address) -> Result<u128, Error> {
        Ok(balance(&owner))
    }

    /// All tokens minted so far.
    pub fn total_supply() -> Result<u128, Error> {
        Ok(SUPPLY.get_or_default())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    extern crate std;

    use super::*;
    use fdl_contract::testing::{TestEnv, account, contract_identity};
    use std::string::String;

    fn args(to: &Identity, amount: &str) -> String {
        format!(r#"{{"to": "{}", "amount": {amount}}}"#, to.address)
    }

    fn balance_json(env: &TestEnv, who: &Identity) -> String {
        env.call(balance_of, &format!(r#"{{"owner": "{}"}}"#, who.address)).expect("balance_of")
    }

    fn failure(code: &str, message: &str) -> Result<String, (String, String)> {
        Err((code.into(), message.into()))
    }

    #[test]
    fn an_owner_admin_mints_and_others_cannot() {
        let admin = account(1, "org1", "admin");
        let alice = account(2, "org1", "client");
        let foreign_admin = account(3, "org2", "admin");
        let env = TestEnv::new().with_contract("token", "org1");

        assert_eq!(env.call_as(&admin, mint, &args(&alice, "100")), Ok(String::new()));
        assert_eq!(balance_json(&env, &alice), "100");
        assert_eq!(env.call(total_supply, "{}"), Ok("100".into()));
        let events = env.take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "minted");
        assert_eq!(events[0].data, format!(r#"{{"to":"{}","amount":100,"total_supply":100}}"#, alice.address));

        let not_admin = failure("not_admin", "only an admin of org1 may mint");
        assert_eq!(env.call_as(&alice, mint, &args(&alice, "1")), not_admin);
        assert_eq!(env.call_as(&foreign_admin, mint, &args(&alice, "1")), not_admin);
        // A contract calling is not an admin, whatever its institution.
        assert_eq!(env.call_as(&contract_identity("other", 1, "org1"), mint, &args(&alice, "1")), not_admin);
        assert_eq!(
            env.call_as(&admin, mint, &args(&alice, "0")),
            failure("zero_amount", "the amount must be positive")
        );
        assert_eq!(env.call(total_supply, ""), Ok("100".into()));
        assert!(env.events().is_empty());
    }

    #[test]
    fn transfers_move_balances() {
        let admin = account(1, "org1", "admin");
        let alice = account(2, "org1", "client");
        let bob = account(3, "org2", "client");
        let env = TestEnv::new().with_contract("token", "org1");
        env.call_as(&admin, mint, &args(&alice, "100")).expect("mint");
        env.take_events();

        assert_eq!(env.call_as(&alice, transfer, &args(&bob, "30")), Ok(String::new()));
        assert_eq!(balance_json(&env, &alice), "70");
        assert_eq!(balance_json(&env, &bob), "30");
        let events = env.take_events();
        assert_eq!(events[0].kind, "transferred");
        assert_eq!(events[0].data, format!(r#"{{"from":"{}","to":"{}","amount":30}}"#, alice.address, bob.address));

        assert_eq!(
            env.call_as(&bob, transfer, &args(&alice, "31")),
            failure("insufficient_balance", "the balance is 30, below 31")
        );
        assert_eq!(
            env.call_as(&bob, transfer, &args(&alice, "0")),
            failure("zero_amount", "the amount must be positive")
        );
        // To oneself: allowed, balance unchanged.
        assert_eq!(env.call_as(&bob, transfer, &args(&bob, "30")), Ok(String::new()));
        assert_eq!(balance_json(&env, &bob), "30");
        // An unknown owner has 0; the supply did not move.
        assert_eq!(balance_json(&env, &account(9, "", "")), "0");
        assert_eq!(env.call(total_supply, "{}"), Ok("100".into()));
    }

    #[test]
    fn amounts_up_to_u128_and_overflow() {
        let admin = account(1, "org1", "admin");
        let alice = account(2, "org1", "client");
        let env = TestEnv::new().with_contract("token", "org1").with_caller(admin.clone());
        let max = u128::MAX.to_string();
        // A decimal string, for JavaScript clients.
        assert_eq!(env.call(mint, &args(&alice, &format!("\"{max}\""))), Ok(String::new()));
        assert_eq!(balance_json(&env, &alice), max);
        assert_eq!(
            env.call(mint, &args(&admin, "1")),
            failure("overflow", "the amount would overflow the balance or the supply")
        );
        // Beyond u128, negative, fractional: typed failures, never panics.
        assert_eq!(env.call(mint, &args(&alice, "340282366920938463463374607431768211456")).unwrap_err().0, "bad_json");
        assert_eq!(
            env.call(mint, &args(&alice, "-1")),
            failure("bad_args", "argument \"amount\": out of range for u128")
        );
        assert_eq!(env.call(mint, &args(&alice, "1.0")).unwrap_err().0, "bad_json");
        assert_eq!(env.call(total_supply, "{}"), Ok(max));
    }

    #[test]
    fn bad_arguments_are_named() {
        let env = TestEnv::new().with_contract("token", "org1");
        assert_eq!(env.call(transfer, r#"{"amount": 1}"#), failure("bad_args", "missing argument \"to\""));
        assert_eq!(
            env.call(transfer, r#"{"to": 5, "amount": 1}"#),
            failure("bad_args", "argument \"to\": expected an address (a string of 40 hex digits)")
        );
        assert_eq!(
            env.call(balance_of, r#"{"owner": "0x0000000000000000000000000000000000000000", "x": 1}"#),
            failure("bad_args", "unknown argument \"x\"")
        );
        assert_eq!(env.call(total_supply, "nope").unwrap_err().0, "bad_json");
    }

    #[test]
    fn stored_balances_are_typed() {
        let admin = account(1, "org1", "admin");
        let env = TestEnv::new().with_contract("token", "org1").with_caller(admin.clone());
        env.call(mint, &args(&admin, "5")).expect("mint");
        assert_eq!(env.with(|| BALANCES.get(&admin.address)), Some(5));
        assert_eq!(env.with(|| BALANCES.iter().collect::<std::vec::Vec<_>>()), [(admin.address, 5)]);
    }
}
