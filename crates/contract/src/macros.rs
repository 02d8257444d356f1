//! The entry-point macro [`method!`](crate::method), [`json_object!`](crate::json_object),
//! [`ensure!`](crate::ensure), and the support their expansions call.

use crate::env::{fail, input, set_return};
use crate::error::ContractError;
use crate::json::{self, Json, ObjectReader, ToJson};

/// Declares contract methods: each `fn` becomes a wasm export of type `() -> ()` named after it.
///
/// ```ignore
/// fdl_contract::method! {
///     /// Moves `amount` from the caller to `to`.
///     pub fn transfer(to: Address, amount: u128) -> Result<(), Error> {
///         /* ... */
///         Ok(())
///     }
///
///     /// The balance of `owner`.
///     pub fn balance_of(owner: Address) -> Result<u128, Error> {
///         Ok(BALANCES.get(&owner).unwrap_or(0))
///     }
/// }
/// ```
///
/// The export reads [`input`](crate::input) as a JSON object (an empty input is `{}`) and takes
/// each argument by name with [`FromJson`](crate::FromJson):
/// - input that is not JSON fails the call with `bad_json`;
/// - JSON that is not an object, a missing argument (unless its type is an `Option`), an
///   argument of the wrong type and an unknown argument fail it with `bad_args`, the message
///   naming the argument and what was wrong.
///
/// Then it runs the body. The return type is `Result<T, E>` with `T:`[`ToJson`] and
/// `E:`[`ContractError`], or nothing: `Ok(v)` sets the return data to `v` as JSON (`()` sets
/// none), `Err(e)` fails the call with `e.code()` and `e.message()`, undoing its writes and
/// events.
///
/// Method names must be valid export names (`[a-z_][a-z0-9_]*`, at most 64 bytes, not starting
/// with `__`), which is checked at compile time. Two names are reserved by the ABI and run by
/// the node only: `init`, once, in the deploy that creates the contract, and `migrate`, once, in
/// the upgrade that installs this version; declare them like any method.
///
/// Arguments are plain names (`amount: u128`, not patterns). On `wasm32` each method is an
/// `extern "C"` export; natively it is a plain `fn()` that `testing::TestEnv::call` runs.
#[macro_export]
macro_rules! method {
    ($(
        $(#[$attr:meta])*
        $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? $body:block
    )*) => {$(
        $(#[$attr])*
        #[cfg(target_arch = "wasm32")]
        // `no_mangle` is unsafe because two symbols of one name would clash at link time. The
        // symbol is the method's name, which the ABI needs as the export name; it is unique in
        // the contract (two methods of one name do not compile), and the ABI's name rule (checked
        // at compile time) keeps it apart from the toolchain's `__`-prefixed symbols.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        $vis extern "C" fn $name() {
            $crate::__method_body!($name; $($arg: $ty),*; $(-> $ret)?; $body);
        }

        $(#[$attr])*
        #[cfg(not(target_arch = "wasm32"))]
        $vis fn $name() {
            $crate::__method_body!($name; $($arg: $ty),*; $(-> $ret)?; $body);
        }
    )*};
}

/// The body of a method's export (see [`method!`](crate::method)).
#[doc(hidden)]
#[macro_export]
macro_rules! __method_body {
    ($name:ident; $($arg:ident: $ty:ty),*; $(-> $ret:ty)?; $body:block) => {
        const _: () = ::core::assert!(
            $crate::__private::valid_method_name(::core::stringify!($name)),
            "a method name must be [a-z_][a-z0-9_]*, at most 64 bytes, and not start with __",
        );
        fn __fdl_method($($arg: $ty),*) $(-> $ret)? $body
        #[allow(unused_mut)]
        let mut __fdl_args = $crate::__private::Args::from_input();
        $(let $arg: $ty = __fdl_args.take(::core::stringify!($arg));)*
        __fdl_args.finish();
        $crate::__private::MethodReturn::finish(__fdl_method($($arg),*));
    };
}

/// Declares structs that are JSON objects and stored values: implements
/// [`ToJson`](crate::ToJson) (an object with the fields in order),
/// [`FromJson`](crate::FromJson) (strict: every field present unless it is an `Option`, no
/// unknown field) and [`Codec`](crate::Codec) (the fields' encodings in order) for each.
///
/// ```
/// fdl_contract::json_object! {
///     /// A payment.
///     #[derive(Clone, Debug, PartialEq)]
///     pub struct Payment {
///         /// Who is paid.
///         pub to: fdl_contract::Address,
///         /// How much.
///         pub amount: u128,
///         /// A note, optional.
///         pub memo: Option<String>,
///     }
/// }
///
/// use fdl_contract::{json, Address};
/// let p: Payment = json::from_slice(br#"{"to": "0x0101010101010101010101010101010101010101", "amount": "7"}"#).unwrap();
/// assert_eq!(p, Payment { to: Address([1; 20]), amount: 7, memo: None });
/// assert_eq!(json::to_string(&p), r#"{"to":"0101010101010101010101010101010101010101","amount":7,"memo":null}"#);
/// assert_eq!(fdl_contract::from_bytes::<Payment>(&fdl_contract::to_bytes(&p)), Some(p));
/// ```
#[macro_export]
macro_rules! json_object {
    ($(
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    )*) => {$(
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl $crate::ToJson for $name {
            fn to_json(&self) -> $crate::Json {
                $crate::JsonObject::new()
                    $(.field(::core::stringify!($field), &self.$field))*
                    .build()
            }
        }

        impl $crate::FromJson for $name {
            fn from_json(value: $crate::Json) -> ::core::result::Result<Self, $crate::JsonError> {
                #[allow(unused_mut)]
                let mut reader = $crate::json::ObjectReader::new(value)?;
                let value = $name { $($field: reader.take(::core::stringify!($field))?),* };
                reader.finish()?;
                ::core::result::Result::Ok(value)
            }
        }

        impl $crate::Codec for $name {
            fn encode(&self, out: &mut $crate::__private::Vec<u8>) {
                let _ = &out;
                $($crate::Codec::encode(&self.$field, out);)*
            }
            fn decode(input: &mut &[u8]) -> ::core::option::Option<Self> {
                let _ = &input;
                ::core::option::Option::Some($name { $($field: <$ty as $crate::Codec>::decode(input)?),* })
            }
        }
    )*};
}

/// Returns early with an [`Error`](crate::Error) (converted with `From`) unless a condition
/// holds: `ensure!(amount > 0, "zero_amount", "the amount must be positive");`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $code:expr, $message:expr $(,)?) => {
        if !$cond {
            return ::core::result::Result::Err(::core::convert::From::from($crate::Error::new($code, $message)));
        }
    };
}

/// Whether `name` is a valid method (export) name: `[a-z_][a-z0-9_]*`, 1 to 64 bytes, not
/// starting with `__` (those exports are the toolchain's, which the node ignores).
pub const fn valid_method_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b.len() > 64 || (b.len() >= 2 && b[0] == b'_' && b[1] == b'_') {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c == b'_' || c.is_ascii_lowercase() || (i > 0 && c.is_ascii_digit())) {
            return false;
        }
        i += 1;
    }
    true
}

/// A method's arguments, read from the call's input.
#[derive(Debug)]
pub struct Args(ObjectReader);

impl Args {
    /// Reads the input as a JSON object (empty input: `{}`); fails `bad_json` or `bad_args`.
    pub fn from_input() -> Args {
        let bytes = input();
        let value = if bytes.is_empty() {
            Json::Object(alloc::vec::Vec::new())
        } else {
            match json::parse(&bytes) {
                Ok(v) => v,
                Err(e) => fail("bad_json", e.message()),
            }
        };
        match ObjectReader::named(value, "argument") {
            Ok(reader) => Args(reader),
            Err(_) => fail("bad_args", "the arguments must be a JSON object"),
        }
    }

    /// Takes the argument `name`; fails `bad_args` if it is missing or of the wrong type.
    pub fn take<T: crate::FromJson>(&mut self, name: &str) -> T {
        match self.0.take(name) {
            Ok(v) => v,
            Err(e) => fail("bad_args", e.message()),
        }
    }

    /// Fails `bad_args` if an argument was not taken (an unknown argument).
    pub fn finish(self) {
        if let Err(e) = self.0.finish() {
            fail("bad_args", e.message())
        }
    }
}

/// What a method body may return.
pub trait MethodReturn {
    /// Sets the return data, or fails the call.
    fn finish(self);
}

impl MethodReturn for () {
    fn finish(self) {}
}

impl<T: ToJson, E: ContractError> MethodReturn for Result<T, E> {
    fn finish(self) {
        match self {
            Ok(value) => {
                if !value.__no_return_data() {
                    set_return(json::to_string(&value).as_bytes());
                }
            }
            Err(e) => fail(e.code(), &e.message()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::valid_method_name;

    #[test]
    fn method_names() {
        for ok in ["a", "transfer", "balance_of", "_x", "init", "migrate", "a1", &"a".repeat(64)] {
            assert!(valid_method_name(ok), "{ok}");
        }
        for bad in ["", "A", "Transfer", "1a", "__x", "__", "a-b", "r#type", "é", &"a".repeat(65)] {
            assert!(!valid_method_name(bad), "{bad}");
        }
    }
}
