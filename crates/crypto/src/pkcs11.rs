//! Keys in a hardware security module, through PKCS#11 (STD-8.2, STD-8.4): a [`Pkcs11Signer`]
//! signs without the private key ever leaving the token.
//!
//! A key is named by a PKCS#11 URI, the subset of RFC 7512 FDL reads ([`Pkcs11Uri`]):
//!
//! ```text
//! pkcs11:token=fdl;object=alice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/fdl/pin
//! ```
//!
//! * path attributes: `token` (the token label; default: the first token present), `object`
//!   (the key's `CKA_LABEL`, required), `slot-id` (optional);
//! * query attributes: `module-path` (else the environment variable `FDL_PKCS11_MODULE`),
//!   `pin-source=file:PATH` or `pin-value=PIN` (else `FDL_PKCS11_PIN`), and for SM2 keys
//!   `x-sm2-mechanism=0x...` and `x-sm2-input=message|digest` (else `FDL_PKCS11_SM2_MECHANISM`,
//!   `FDL_PKCS11_SM2_INPUT`); values are percent-decoded.
//!
//! Ed25519 keys (`CKK_EC_EDWARDS`) sign with `CKM_EDDSA` (pure Ed25519, raw 64-byte signature).
//! PKCS#11 3.x defines no SM2 mechanism: modules that hold SM2 keys define their own
//! ([`Sm2Mechanism`]), and either hash `Z || M` with SM3 themselves ([`Sm2Input::Message`]) or
//! sign the 32-byte digest `e = SM3(Z || M)` ([`Sm2Input::Digest`], computed by
//! [`crate::sm2_digest`]); their `r || s` (or DER) output is re-encoded as FDL's DER signature.
//!
//! The module is loaded once per process (`dlopen`, `C_Initialize`) and kept; each signer opens
//! its own session and logs in with the PIN, which is held in [`Zeroizing`] memory. Every failure
//! is a typed [`CryptoError`]; nothing here panics on module input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::{CryptoError, KeyPair, PublicKey, Signature, Signer, Suite};

/// The environment variable naming the PKCS#11 module when the URI has no `module-path`.
pub const ENV_PKCS11_MODULE: &str = "FDL_PKCS11_MODULE";
/// The environment variable holding the token's user PIN when the URI names no PIN.
pub const ENV_PKCS11_PIN: &str = "FDL_PKCS11_PIN";
/// The environment variable with the SM2 signing mechanism number when the URI has no `x-sm2-mechanism`.
pub const ENV_PKCS11_SM2_MECHANISM: &str = "FDL_PKCS11_SM2_MECHANISM";
/// The environment variable saying what the SM2 mechanism takes (`message` or `digest`).
pub const ENV_PKCS11_SM2_INPUT: &str = "FDL_PKCS11_SM2_INPUT";

/// `CKA_EC_PARAMS` of an Ed25519 key: the DER of the OID `id-Ed25519` 1.3.101.112 (RFC 8410).
const ED25519_EC_PARAMS: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
/// `CKA_EC_PARAMS` of Ed25519 as the printable string "edwards25519" (PKCS#11 3.0 also allows it).
const ED25519_EC_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";

/// What an SM2 mechanism of a module takes as its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sm2Input {
    /// The message: the module computes `Z` (default user id) and `SM3(Z || M)` itself.
    Message,
    /// The 32-byte digest `e = SM3(Z || M)` ([`crate::sm2_digest`]).
    Digest,
}

/// A module's SM2 signing mechanism: its number (vendor-defined, e.g. `0x80000000 | n`) and what
/// it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sm2Mechanism {
    /// The `CK_MECHANISM_TYPE`.
    pub mechanism: u64,
    /// Whether it is given the message or its digest.
    pub input: Sm2Input,
}

/// A parsed PKCS#11 URI (the RFC 7512 subset FDL reads; see the module documentation).
#[derive(Clone, Default)]
pub struct Pkcs11Uri {
    /// `token`: the token label (`CKA_LABEL` of the token); none: the first token present.
    pub token: Option<String>,
    /// `object`: the key's `CKA_LABEL`.
    pub object: Option<String>,
    /// `slot-id`: the slot, when several hold tokens of the same label.
    pub slot_id: Option<u64>,
    /// `module-path`.
    pub module_path: Option<PathBuf>,
    /// `pin-source` (a `file:` URI or a path).
    pub pin_source: Option<String>,
    /// `pin-value`.
    pub pin_value: Option<Zeroizing<String>>,
    /// `x-sm2-mechanism`.
    pub sm2_mechanism: Option<u64>,
    /// `x-sm2-input`.
    pub sm2_input: Option<Sm2Input>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token", &self.token)
            .field("object", &self.object)
            .field("slot_id", &self.slot_id)
            .field("module_path", &self.module_path)
            .field("pin_source", &self.pin_source)
            .field("pin_value", &self.pin_value.as_ref().map(|_| "<hidden>"))
            .field("sm2_mechanism", &self.sm2_mechanism)
            .field("sm2_input", &self.sm2_input)
            .finish()
    }
}

/// Whether `s` is a PKCS#11 URI (starts with `pkcs11:`) rather than a file path.
pub fn is_pkcs11_uri(s: &str) -> bool {
    s.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
}

fn uri_err(m: impl Into<String>) -> CryptoError {
    CryptoError::Pkcs11Uri(m.into())
}

/// Percent-decodes `s` (RFC 3986).
fn pct_decode(s: &str) -> Result<String, CryptoError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or_else(|| uri_err(format!("truncated %-escape in {s:?}")))?;
            let v = u8::from_str_radix(hex, 16).map_err(|_| uri_err(format!("bad %-escape %{hex}")))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| uri_err("a %-escaped value is not UTF-8"))
}

fn parse_u64(v: &str, what: &str) -> Result<u64, CryptoError> {
    let r = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => v.parse(),
    };
    r.map_err(|_| uri_err(format!("{what}={v:?} is not a number (decimal or 0x-hex)")))
}

fn parse_sm2_input(v: &str) -> Result<Sm2Input, CryptoError> {
    match v {
        "message" => Ok(Sm2Input::Message),
        "digest" => Ok(Sm2Input::Digest),
        _ => Err(uri_err(format!("x-sm2-input={v:?}: expected \"message\" or \"digest\""))),
    }
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        Pkcs11Uri::parse(s)
    }
}

impl Pkcs11Uri {
    /// Parses `pkcs11:PATH[?QUERY]`. Unknown path attributes (`manufacturer`, `model`, `serial`,
    /// `type`, `id`, ...) are refused rather than silently ignored, except `type=private`.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Uri`] saying what is wrong.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        if !is_pkcs11_uri(s) {
            return Err(uri_err(format!("{s:?} does not start with \"pkcs11:\"")));
        }
        let rest = &s[7..];
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr.split_once('=').ok_or_else(|| uri_err(format!("path attribute {attr:?} has no '='")))?;
            let v = pct_decode(v)?;
            match k {
                "token" => uri.token = Some(v),
                "object" => uri.object = Some(v),
                "slot-id" => uri.slot_id = Some(parse_u64(&v, "slot-id")?),
                "type" if v == "private" => {}
                _ => return Err(uri_err(format!("path attribute {k:?} is not supported (token, object, slot-id)"))),
            }
        }
        for attr in query.unwrap_or("").split('&').filter(|a| !a.is_empty()) {
            let (k, v) = attr.split_once('=').ok_or_else(|| uri_err(format!("query attribute {attr:?} has no '='")))?;
            let v = Zeroizing::new(pct_decode(v)?);
            match k {
                "module-path" => uri.module_path = Some(PathBuf::from(v.as_str())),
                "pin-source" => uri.pin_source = Some(v.to_string()),
                "pin-value" => uri.pin_value = Some(v),
                "x-sm2-mechanism" => uri.sm2_mechanism = Some(parse_u64(&v, "x-sm2-mechanism")?),
                "x-sm2-input" => uri.sm2_input = Some(parse_sm2_input(&v)?),
                _ => {
                    return Err(uri_err(format!(
                        "query attribute {k:?} is not supported (module-path, pin-source, pin-value, \
                         x-sm2-mechanism, x-sm2-input)"
                    )));
                }
            }
        }
        Ok(uri)
    }

    /// The module: `module-path`, else `FDL_PKCS11_MODULE`.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Uri`] when neither names one.
    pub fn module(&self) -> Result<PathBuf, CryptoError> {
        if let Some(p) = &self.module_path {
            return Ok(p.clone());
        }
        match std::env::var_os(ENV_PKCS11_MODULE) {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
            _ => Err(uri_err(format!("no PKCS#11 module: add ?module-path=... to the URI or set {ENV_PKCS11_MODULE}"))),
        }
    }

    /// The user PIN: `pin-value`, else the file of `pin-source` (`file:PATH` or a path; one
    /// trailing newline dropped), else `FDL_PKCS11_PIN`.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Login`] when there is none or the file cannot be read.
    pub fn pin(&self) -> Result<Zeroizing<String>, CryptoError> {
        if let Some(p) = &self.pin_value {
            return Ok(p.clone());
        }
        if let Some(src) = &self.pin_source {
            let path = src.strip_prefix("file://").or_else(|| src.strip_prefix("file:")).unwrap_or(src);
            let mut text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| CryptoError::Pkcs11Login(format!("reading the PIN file {path}: {e}")))?,
            );
            while text.ends_with('\n') || text.ends_with('\r') {
                text.pop();
            }
            return Ok(text);
        }
        match std::env::var(ENV_PKCS11_PIN) {
            Ok(p) if !p.is_empty() => Ok(Zeroizing::new(p)),
            _ => Err(CryptoError::Pkcs11Login(format!(
                "no PIN: add pin-source=file:PATH to the URI's query or set {ENV_PKCS11_PIN}"
            ))),
        }
    }

    /// The SM2 mechanism from the URI, else from `FDL_PKCS11_SM2_MECHANISM` / `FDL_PKCS11_SM2_INPUT`
    /// (the input defaults to [`Sm2Input::Digest`]); none when neither names a mechanism.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Uri`] for an unreadable environment value.
    pub fn sm2(&self) -> Result<Option<Sm2Mechanism>, CryptoError> {
        let mechanism = match self.sm2_mechanism {
            Some(m) => Some(m),
            None => match std::env::var(ENV_PKCS11_SM2_MECHANISM) {
                Ok(v) if !v.is_empty() => Some(parse_u64(&v, ENV_PKCS11_SM2_MECHANISM)?),
                _ => None,
            },
        };
        let input = match self.sm2_input {
            Some(i) => i,
            None => match std::env::var(ENV_PKCS11_SM2_INPUT) {
                Ok(v) if !v.is_empty() => parse_sm2_input(&v)?,
                _ => Sm2Input::Digest,
            },
        };
        Ok(mechanism.map(|mechanism| Sm2Mechanism { mechanism, input }))
    }

    /// The object label.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Uri`] when the URI has no `object`.
    pub fn object_label(&self) -> Result<&str, CryptoError> {
        self.object.as_deref().ok_or_else(|| uri_err("the URI names no key: add ;object=LABEL"))
    }
}

/// Maps a cryptoki error of `what` to a typed error.
fn ck(what: &str) -> impl Fn(CkError) -> CryptoError + '_ {
    move |e| match e {
        CkError::Pkcs11(
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange | RvError::PinExpired,
            _,
        ) => CryptoError::Pkcs11Login(format!("{what}: the token refused the PIN ({e})")),
        CkError::Pkcs11(RvError::PinLocked, _) => CryptoError::Pkcs11Login(format!("{what}: the PIN is locked ({e})")),
        CkError::Pkcs11(RvError::MechanismInvalid | RvError::MechanismParamInvalid, _) => {
            CryptoError::Pkcs11Unsupported(format!("{what}: the module does not offer this mechanism ({e})"))
        }
        CkError::LibraryLoading(_) => CryptoError::Pkcs11Module(format!("{what}: {e}")),
        _ => CryptoError::Pkcs11(format!("{what}: {e}")),
    }
}

/// The modules this process has loaded and initialized, by path: `C_Initialize` once, and
/// `C_Finalize` never while another signer may use the module.
fn module(path: &Path) -> Result<Pkcs11, CryptoError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut map = MODULES.get_or_init(Default::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(m) = map.get(path) {
        return Ok(m.clone());
    }
    if !path.is_file() {
        return Err(CryptoError::Pkcs11Module(format!(
            "{}: no such module file (is the HSM's PKCS#11 library installed? SoftHSM2: run scripts/setup.sh)",
            path.display()
        )));
    }
    let ctx = Pkcs11::new(path).map_err(|e| CryptoError::Pkcs11Module(format!("loading {}: {e}", path.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(CryptoError::Pkcs11Module(format!("initializing {}: {e}", path.display()))),
    }
    map.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// The token's label as the module pads it (32 bytes, blank-padded), trimmed.
fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, CryptoError> {
    let slots = ctx.get_slots_with_token().map_err(ck("listing the slots"))?;
    let mut seen = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx.get_token_info(slot).map_err(ck("reading a token's information"))?;
        let label = info.label().trim_end().to_string();
        if uri.token.as_deref().is_none_or(|t| t == label) {
            return Ok(slot);
        }
        seen.push(label);
    }
    Err(CryptoError::Pkcs11TokenNotFound(format!(
        "no token labelled {:?} in the module (tokens: {seen:?})",
        uri.token.as_deref().unwrap_or("<any>")
    )))
}

/// A logged-in session with one token: what `fdl key pkcs11 import|generate|list` use, and what
/// a [`Pkcs11Signer`] keeps.
pub struct Pkcs11Token {
    session: Session,
}

impl std::fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Token(session {})", self.session)
    }
}

/// A key a token holds: its label and, when its public key object is there, the public key.
#[derive(Debug, Clone)]
pub struct Pkcs11Key {
    /// `CKA_LABEL`.
    pub label: String,
    /// The public key (from the public key object of the same label).
    pub public_key: Option<PublicKey>,
}

/// Strips the DER OCTET STRING around an `CKA_EC_POINT` when it is there (PKCS#11 says it is;
/// some modules give the bare point).
fn ec_point(raw: &[u8]) -> &[u8] {
    match raw {
        [0x04, n, rest @ ..] if usize::from(*n) == rest.len() && (rest.len() == 32 || rest.len() == 65) => rest,
        [0x04, 0x81, n, rest @ ..] if usize::from(*n) == rest.len() => rest,
        _ => raw,
    }
}

impl Pkcs11Token {
    /// Loads the module, finds the token, opens a read-write session and logs in as the user
    /// with the URI's PIN ([`Pkcs11Uri::pin`]).
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Module`], [`CryptoError::Pkcs11TokenNotFound`],
    /// [`CryptoError::Pkcs11Login`], [`CryptoError::Pkcs11Uri`] or [`CryptoError::Pkcs11`].
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, CryptoError> {
        let ctx = module(&uri.module()?)?;
        let slot = find_slot(&ctx, uri)?;
        let pin = uri.pin()?;
        let session = ctx.open_rw_session(slot).map_err(ck("opening a session"))?;
        let auth = AuthPin::from(pin.as_str());
        match session.login(UserType::User, Some(&auth)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(ck("logging in")(e)),
        }
        Ok(Pkcs11Token { session })
    }

    fn find(&self, class: ObjectClass, label: &str) -> Result<Vec<ObjectHandle>, CryptoError> {
        self.session
            .find_objects(&[Attribute::Class(class), Attribute::Label(label.as_bytes().to_vec())])
            .map_err(ck("finding objects"))
    }

    /// The public key of the public key object labelled `label`.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11KeyNotFound`] when there is none; [`CryptoError::Pkcs11Unsupported`]
    /// for a key that is neither Ed25519 nor SM2.
    pub fn public_key(&self, label: &str) -> Result<PublicKey, CryptoError> {
        let Some(h) = self.find(ObjectClass::PUBLIC_KEY, label)?.into_iter().next() else {
            return Err(CryptoError::Pkcs11KeyNotFound(format!("no public key object labelled {label:?}")));
        };
        let attrs = self
            .session
            .get_attributes(h, &[AttributeType::KeyType, AttributeType::EcPoint])
            .map_err(ck("reading a public key"))?;
        let (mut kt, mut point) = (None, None);
        for a in attrs {
            match a {
                Attribute::KeyType(t) => kt = Some(t),
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        let point = point.ok_or_else(|| CryptoError::Pkcs11Unsupported(format!("{label:?}: no CKA_EC_POINT")))?;
        let point = ec_point(&point);
        match kt {
            Some(t) if t == KeyType::EC_EDWARDS => PublicKey::from_bytes(Suite::Intl, point),
            _ if point.len() == 65 => PublicKey::from_bytes(Suite::Sm, point),
            other => Err(CryptoError::Pkcs11Unsupported(format!(
                "{label:?}: key type {other:?} with a {}-byte point is neither Ed25519 nor SM2",
                point.len()
            ))),
        }
    }

    /// The keys on the token: every private key object's label, with its public key when a
    /// public key object of the same label exists.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11`] when the module fails.
    pub fn list(&self) -> Result<Vec<Pkcs11Key>, CryptoError> {
        let handles =
            self.session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]).map_err(ck("finding keys"))?;
        let mut out = Vec::new();
        for h in handles {
            let attrs = self.session.get_attributes(h, &[AttributeType::Label]).map_err(ck("reading a label"))?;
            let label = attrs
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Label(l) => Some(String::from_utf8_lossy(&l).into_owned()),
                    _ => None,
                })
                .unwrap_or_default();
            let public_key = self.public_key(&label).ok();
            out.push(Pkcs11Key { label, public_key });
        }
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }

    fn refuse_existing(&self, label: &str) -> Result<(), CryptoError> {
        if !self.find(ObjectClass::PRIVATE_KEY, label)?.is_empty()
            || !self.find(ObjectClass::PUBLIC_KEY, label)?.is_empty()
        {
            return Err(CryptoError::Pkcs11Unsupported(format!(
                "the token already holds an object labelled {label:?}"
            )));
        }
        Ok(())
    }

    /// Imports an Ed25519 key (`C_CreateObject`): a private key object `CKK_EC_EDWARDS` with
    /// `CKA_EC_PARAMS` the OID 1.3.101.112 and `CKA_VALUE` the 32-byte seed, sensitive and not
    /// extractable, and the matching public key object (`CKA_EC_POINT` a DER OCTET STRING), both
    /// labelled `label` and with the same `CKA_ID` (the key's address).
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Unsupported`] for an SM2 key (import SM2 keys with the module
    /// vendor's tool) or when `label` is taken; [`CryptoError::Pkcs11`] when the module refuses.
    pub fn import(&self, label: &str, key: &KeyPair) -> Result<PublicKey, CryptoError> {
        let KeyPair::Ed25519(sk) = key else {
            return Err(CryptoError::Pkcs11Unsupported(
                "PKCS#11 defines no SM2 key type: import SM2 keys with the module vendor's tool, then sign \
                 with x-sm2-mechanism"
                    .into(),
            ));
        };
        self.refuse_existing(label)?;
        let pk = key.public_key();
        let id = pk.address().0.to_vec();
        let seed = Zeroizing::new(sk.to_bytes().to_vec());
        let mut point = vec![0x04, 0x20];
        point.extend_from_slice(&pk.to_bytes());
        let private = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
            Attribute::EcParams(ED25519_EC_PARAMS.to_vec()),
            Attribute::Value(seed.to_vec()),
        ];
        let public = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
            Attribute::EcParams(ED25519_EC_PARAMS.to_vec()),
            Attribute::EcPoint(point),
        ];
        let created = self.session.create_object(&private);
        // The template's copy of the seed: overwrite it whatever the outcome.
        let mut private = private;
        if let Some(Attribute::Value(v)) = private.last_mut() {
            zeroize::Zeroize::zeroize(v);
        }
        let priv_handle = match created {
            Ok(h) => h,
            // Some modules want the printable-string form of the curve.
            Err(CkError::Pkcs11(RvError::CurveNotSupported | RvError::AttributeValueInvalid, _)) => {
                let mut alt = private;
                alt[9] = Attribute::EcParams(ED25519_EC_PARAMS_NAME.to_vec());
                alt[10] = Attribute::Value(seed.to_vec());
                let r = self.session.create_object(&alt);
                if let Attribute::Value(v) = &mut alt[10] {
                    zeroize::Zeroize::zeroize(v);
                }
                r.map_err(ck("creating the private key object"))?
            }
            Err(e) => return Err(ck("creating the private key object")(e)),
        };
        if let Err(e) = self.session.create_object(&public) {
            let _ = self.session.destroy_object(priv_handle);
            return Err(ck("creating the public key object")(e));
        }
        Ok(pk)
    }

    /// Generates an Ed25519 key pair on the token (`C_GenerateKeyPair`,
    /// `CKM_EC_EDWARDS_KEY_PAIR_GEN`), the private key sensitive and not extractable.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11Unsupported`] for the `sm` suite (generate SM2 keys with the module
    /// vendor's tool) or when `label` is taken; [`CryptoError::Pkcs11`] when the module fails.
    pub fn generate(&self, label: &str, suite: Suite) -> Result<PublicKey, CryptoError> {
        if suite != Suite::Intl {
            return Err(CryptoError::Pkcs11Unsupported(
                "PKCS#11 defines no SM2 key generation: generate SM2 keys with the module vendor's tool".into(),
            ));
        }
        self.refuse_existing(label)?;
        let public = [
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::EcParams(ED25519_EC_PARAMS.to_vec()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.session
            .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
            .map_err(ck("generating an Ed25519 key pair"))?;
        self.public_key(label)
    }

    /// A signer for the key labelled `label`, consuming this session. `sm2` is required for SM2 keys.
    ///
    /// # Errors
    /// [`CryptoError::Pkcs11KeyNotFound`] when the token holds no private key (or no public key)
    /// of that label; [`CryptoError::Pkcs11Unsupported`] for an SM2 key without `sm2`.
    pub fn into_signer(self, label: &str, sm2: Option<Sm2Mechanism>) -> Result<Pkcs11Signer, CryptoError> {
        let key = match self.find(ObjectClass::PRIVATE_KEY, label)?.as_slice() {
            [h] => *h,
            [] => {
                return Err(CryptoError::Pkcs11KeyNotFound(format!("no private key labelled {label:?} on the token")));
            }
            more => {
                return Err(CryptoError::Pkcs11KeyNotFound(format!(
                    "{} private keys are labelled {label:?}: labels must be unique",
                    more.len()
                )));
            }
        };
        let public_key = self.public_key(label)?;
        let mechanism = match public_key.suite() {
            Suite::Intl => SignMechanism::Eddsa,
            Suite::Sm => match sm2 {
                Some(m) => SignMechanism::Sm2(m),
                None => {
                    return Err(CryptoError::Pkcs11Unsupported(format!(
                        "{label:?} is an SM2 key: name the module's SM2 mechanism with x-sm2-mechanism=0x... \
                         and x-sm2-input=message|digest in the URI (or {ENV_PKCS11_SM2_MECHANISM})"
                    )));
                }
            },
        };
        Ok(Pkcs11Signer { session: Mutex::new(self.session), key, public_key, mechanism })
    }
}

#[derive(Debug, Clone, Copy)]
enum SignMechanism {
    Eddsa,
    Sm2(Sm2Mechanism),
}

/// A key held by a PKCS#11 token: signs through the module, never sees the private key.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public_key: PublicKey,
    mechanism: SignMechanism,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Signer({:?}, {:?})", self.public_key, self.mechanism)
    }
}

impl Pkcs11Signer {
    /// Opens a session with the token of `uri`, logs in and finds the key `object` and its public key.
    ///
    /// # Errors
    /// As [`Pkcs11Token::open`] and [`Pkcs11Token::into_signer`].
    pub fn open(uri: &Pkcs11Uri) -> Result<Self, CryptoError> {
        let label = uri.object_label()?.to_string();
        let sm2 = uri.sm2()?;
        Pkcs11Token::open(uri)?.into_signer(&label, sm2)
    }
}

/// An SM2 signature from a module as FDL's canonical DER: `r || s` (64 bytes) or DER.
fn sm2_signature(raw: &[u8]) -> Result<Signature, CryptoError> {
    let sig = if raw.len() == 64 { sm2::dsa::Signature::from_slice(raw) } else { sm2::dsa::Signature::from_der(raw) }
        .map_err(|_| {
        CryptoError::Pkcs11(format!("the module's SM2 signature ({} bytes) is neither r||s nor DER", raw.len()))
    })?;
    Ok(Signature::Sm2(sig.to_der().as_bytes().to_vec()))
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }

    fn sign(&self, msg: &[u8]) -> Result<Signature, CryptoError> {
        let session = self.session.lock().map_err(|_| CryptoError::Pkcs11("the session lock is poisoned".into()))?;
        match self.mechanism {
            SignMechanism::Eddsa => {
                let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                let raw = session.sign(&mech, self.key, msg).map_err(ck("signing"))?;
                let sig = Signature::from_bytes(Suite::Intl, &raw).map_err(|_| {
                    CryptoError::Pkcs11(format!("the module's Ed25519 signature has {} bytes", raw.len()))
                })?;
                Ok(sig)
            }
            SignMechanism::Sm2(m) => {
                let mtype = MechanismType::new_vendor_defined(m.mechanism)
                    .or_else(|_| MechanismType::try_from(m.mechanism))
                    .map_err(|e| CryptoError::Pkcs11Unsupported(format!("SM2 mechanism {:#x}: {e}", m.mechanism)))?;
                let mech = Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(mtype, None));
                let digest;
                let data = match m.input {
                    Sm2Input::Message => msg,
                    Sm2Input::Digest => {
                        digest = crate::sm2_digest(&self.public_key, msg)?;
                        &digest[..]
                    }
                };
                let raw = session.sign(&mech, self.key, data).map_err(ck("signing with SM2"))?;
                sm2_signature(&raw)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=fdl;object=al%20ice?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/p/pin",
        )
        .expect("parse");
        assert_eq!(u.token.as_deref(), Some("fdl"));
        assert_eq!(u.object.as_deref(), Some("al ice"));
        assert_eq!(u.module().expect("module"), PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(u.pin_source.as_deref(), Some("file:/p/pin"));
        let u = Pkcs11Uri::parse("pkcs11:object=k?pin-value=1234&x-sm2-mechanism=0x80000101&x-sm2-input=message")
            .expect("parse");
        assert_eq!(u.pin().expect("pin").as_str(), "1234");
        assert_eq!(u.sm2().expect("sm2"), Some(Sm2Mechanism { mechanism: 0x8000_0101, input: Sm2Input::Message }));
        assert!(format!("{u:?}").contains("<hidden>") && !format!("{u:?}").contains("1234"));
        for bad in [
            "pkcs12:x",
            "pkcs11:object",
            "pkcs11:serial=1",
            "pkcs11:object=a?foo=b",
            "pkcs11:object=%zz",
            "pkcs11:object=a?x-sm2-input=both",
            "pkcs11:object=a?x-sm2-mechanism=abc",
        ] {
            assert!(matches!(Pkcs11Uri::parse(bad), Err(CryptoError::Pkcs11Uri(_))), "{bad}");
        }
        assert!(is_pkcs11_uri("PKCS11:object=a") && !is_pkcs11_uri("key.pem"));
    }

    #[test]
    fn ec_points_are_unwrapped() {
        let mut der = vec![0x04, 0x20];
        der.extend([7u8; 32]);
        assert_eq!(ec_point(&der), &[7u8; 32]);
        assert_eq!(ec_point(&[7u8; 32]), &[7u8; 32]);
        let mut sm = vec![0x04, 0x41, 0x04];
        sm.extend([1u8; 64]);
        assert_eq!(ec_point(&sm).len(), 65);
    }

    #[test]
    fn module_sm2_signatures_become_canonical_der() {
        use crate::Signer as _;
        let kp = KeyPair::generate(Suite::Sm);
        let sig = kp.sign(b"m").expect("sign");
        let parsed = sm2::dsa::Signature::from_der(sig.as_bytes()).expect("der");
        let rs = parsed.to_bytes();
        assert_eq!(sm2_signature(&rs).expect("r||s"), sig);
        assert_eq!(sm2_signature(sig.as_bytes()).expect("der"), sig);
        assert!(matches!(sm2_signature(&[1, 2, 3]), Err(CryptoError::Pkcs11(_))));
    }

    #[test]
    fn a_missing_module_is_a_typed_error() {
        let u = Pkcs11Uri::parse("pkcs11:object=a?module-path=/nonexistent/libnone.so&pin-value=1").expect("parse");
        assert!(matches!(Pkcs11Signer::open(&u), Err(CryptoError::Pkcs11Module(_))));
    }
}
