//! FDL's member certificates: X.509 v3, signed with SM2 (SM3, distinguishing id
//! `1234567812345678`, DER signatures) under the `sm` suite or Ed25519 under `intl` (STD-13.1).
//!
//! Each member institution has a root CA ([`create_ca`]). It issues certificates to its nodes and
//! clients ([`issue`]). The certificate carries the member's identity as follows:
//! - **Subject `CN`:** the member's name (a node or a person).
//! - **Subject `O`:** the institution.
//! - **Subject `OU`:** the role, one of `admin`, `client`, `validator`, `observer`, `regulator`
//!   or `auditor`.
//!
//! Putting the role in the subject means that `openssl x509 -subject` shows it, and that every
//! CA tool, including OpenSSL, can issue such a certificate without a custom extension.
//!
//! Other fields:
//! - CA certificates have `basicConstraints CA:TRUE` and `keyUsage keyCertSign, cRLSign`.
//! - Member certificates have `CA:FALSE` and `digitalSignature`, plus subject and authority key
//!   identifiers.
//!
//! [`verify`] checks a certificate against its CA: the issuer name, the CA flag and `keyCertSign`
//! on the CA, no CA flag and `digitalSignature` on a member certificate, no critical extension FDL
//! does not understand, the same signature algorithm inside and outside the signed part, the
//! validity period at a given time, and the CA's signature. [`verify_crl`] checks a revocation
//! list the same way (issuer, algorithm, `thisUpdate`/`nextUpdate`, signature). Serial numbers
//! have one text form, [`canonical_serial`], whatever way they were typed or printed. Every certificate this crate issues passes
//! `openssl verify -vfyopt distid:1234567812345678`, and certificates that OpenSSL issues with
//! SM2 keys verify here.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

use std::{str::FromStr, time::Duration};

use der::{
    Decode, Encode,
    asn1::BitString,
    oid::{AssociatedOid, ObjectIdentifier},
    pem::LineEnding,
};
use fdl_crypto::{KeyPair, PublicKey, Signature, Signer, Suite};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::{
    Certificate,
    builder::{Builder, CertificateBuilder, CrlBuilder, profile::BuilderProfile},
    certificate::TbsCertificate,
    crl::{CertificateList, RevokedCert},
    ext::{
        Extension, ToExtension,
        pkix::{
            AuthorityKeyIdentifier, BasicConstraints, CrlNumber, KeyUsage, KeyUsages, SubjectAltName,
            SubjectKeyIdentifier,
        },
    },
    name::Name,
    serial_number::SerialNumber,
    time::{Time, Validity},
};

/// OID of SM2 signatures with SM3 (GB/T 35276).
pub const SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
/// OID of Ed25519 (RFC 8410).
pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// Longest common name or institution name.
pub const MAX_NAME_LEN: usize = 64;

/// Why a certificate could not be made, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A name that is empty, too long, or has characters outside `[A-Za-z0-9 ._-]`.
    #[error("invalid name {0:?}: use 1-64 letters, digits, spaces, '.', '_' or '-'")]
    BadName(String),
    /// The bytes are not a certificate FDL can read.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The certificate's signature algorithm or key is not one of FDL's suites.
    #[error("unsupported algorithm: {0}")]
    Unsupported(String),
    /// The issuer's signature does not verify.
    #[error("the certificate is not signed by this CA")]
    BadSignature,
    /// The certificate names another issuer.
    #[error("issued by {issuer}, not by {ca}")]
    WrongIssuer {
        /// The certificate's issuer.
        issuer: String,
        /// The CA's subject.
        ca: String,
    },
    /// The "CA" is not a CA certificate.
    #[error("{0} is not a CA certificate")]
    NotCa(String),
    /// Outside its validity period.
    #[error("not valid at {now} (valid {not_before}..{not_after}, Unix seconds)")]
    Expired {
        /// The time checked.
        now: u64,
        /// Start of validity.
        not_before: u64,
        /// End of validity.
        not_after: u64,
    },
    /// The certificate carries no FDL role (OU).
    #[error("no FDL role in the subject's OU")]
    NoRole,
    /// Building or signing failed.
    #[error("issuing: {0}")]
    Issue(String),
    /// A member certificate that carries the CA flag (`basicConstraints cA=TRUE`).
    #[error("{0} is a CA certificate, not a member's (basicConstraints cA=TRUE)")]
    LeafIsCa(String),
    /// The certificate's key usage lacks the bit its use needs (or it has no key usage).
    #[error("{cert}: keyUsage must include {needed}")]
    KeyUsage {
        /// The certificate's common name.
        cert: String,
        /// The bit it needs: `keyCertSign` for a CA, `digitalSignature` for a member.
        needed: &'static str,
    },
    /// A critical extension FDL does not process (RFC 5280 §4.2: refuse it).
    #[error("unknown critical extension {0}")]
    UnknownCriticalExtension(String),
    /// The signature algorithm inside the signed part differs from the outer one.
    #[error("signature algorithm {inner} inside the signed part, {outer} outside")]
    AlgorithmMismatch {
        /// `tbsCertificate.signature` (or `tbsCertList.signature`).
        inner: String,
        /// `signatureAlgorithm`.
        outer: String,
    },
    /// A revocation list not in force at the time checked.
    #[error(
        "revocation list not in force at {now} (thisUpdate {this_update}, nextUpdate {next_update:?}, Unix seconds)"
    )]
    CrlNotCurrent {
        /// The time checked.
        now: u64,
        /// When it was issued.
        this_update: u64,
        /// When the next one is due, if it says.
        next_update: Option<u64>,
    },
    /// A serial number that is not a positive hexadecimal integer of at most 20 bytes.
    #[error("bad serial number {0:?}: expected hex, as `openssl x509 -serial` prints it")]
    BadSerial(String),
}

/// A member's role, carried in the certificate subject's `OU` (the chain's one role type,
/// defined in `fdl-types`).
pub use fdl_types::Role;

/// What a certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject `CN`.
    pub common_name: String,
    /// Subject `O`: the institution.
    pub org: String,
    /// Subject `OU` as a role (`None` for a CA or a certificate without one).
    pub role: Option<Role>,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// Serial number in its canonical form ([`canonical_serial`]).
    pub serial: String,
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
    /// The subject's public key.
    pub public_key: PublicKey,
    /// The issuer's `CN`.
    pub issuer_common_name: String,
}

fn check_name(s: &str) -> Result<(), PkiError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-'))
        && !s.starts_with(' ')
        && !s.ends_with(' ');
    if ok { Ok(()) } else { Err(PkiError::BadName(s.into())) }
}

fn name(cn: &str, ou: Option<Role>, org: &str) -> Result<Name, PkiError> {
    check_name(cn)?;
    check_name(org)?;
    let s = match ou {
        Some(r) => format!("CN={cn},OU={r},O={org}"),
        None => format!("CN={cn},O={org}"),
    };
    Name::from_str(&s).map_err(|e| PkiError::Issue(format!("name {s}: {e}")))
}

fn spki_der(key: &PublicKey) -> Result<Vec<u8>, PkiError> {
    let pem = key.to_spki_pem().map_err(|e| PkiError::Issue(e.to_string()))?;
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| PkiError::Issue(e.to_string()))?;
    Ok(der)
}

fn key_from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, PkiError> {
    let der = spki.to_der().map_err(|e| PkiError::Malformed(e.to_string()))?;
    let pem =
        der::pem::encode_string("PUBLIC KEY", LineEnding::LF, &der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    PublicKey::from_spki_pem(&pem).map_err(|e| PkiError::Unsupported(e.to_string()))
}

fn algorithm(suite: Suite) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid: if suite == Suite::Sm { SM2_WITH_SM3 } else { ED25519 }, parameters: None }
}

/// The CA's key seen through the traits `x509-cert`'s builder wants; the signature itself is made
/// by [`KeyPair::sign`] (DER for SM2, as certificates need).
struct CaSigner<'a> {
    key: &'a KeyPair,
}

#[derive(Clone)]
struct CaPublic(Vec<u8>);

impl EncodePublicKey for CaPublic {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        der::Document::try_from(self.0.as_slice()).map_err(Into::into)
    }
}

impl signature::Keypair for CaSigner<'_> {
    type VerifyingKey = CaPublic;
    fn verifying_key(&self) -> CaPublic {
        // The key's own SPKI encoding cannot fail for a key this process holds.
        CaPublic(spki_der(&self.key.public_key()).unwrap_or_default())
    }
}

impl DynSignatureAlgorithmIdentifier for CaSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(algorithm(self.key.suite()))
    }
}

struct Profile {
    subject: Name,
    issuer: Name,
    ca: bool,
    purpose: KeyPurpose,
    dns: Vec<String>,
}

/// What a member certificate's key is for. TLCP (GB/T 38636) gives every endpoint two SM2
/// certificates with the same subject: one for signing, one for key exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// `digitalSignature`: member certificates, and a TLCP endpoint's signing certificate.
    Signing,
    /// `keyEncipherment, dataEncipherment, keyAgreement`: a TLCP endpoint's encryption certificate.
    Encryption,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: spki::SubjectPublicKeyInfoRef<'_>,
        issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut ext = Vec::new();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let aki = SubjectKeyIdentifier::try_from(issuer_spk)?;
        ext.push(BasicConstraints { ca: self.ca, path_len_constraint: None }.to_extension(tbs.subject(), &ext)?);
        let usage = match (self.ca, self.purpose) {
            (true, _) => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            (false, KeyPurpose::Signing) => KeyUsages::DigitalSignature.into(),
            (false, KeyPurpose::Encryption) => {
                KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment | KeyUsages::KeyAgreement
            }
        };
        ext.push(KeyUsage(usage).to_extension(tbs.subject(), &ext)?);
        if !self.dns.is_empty() {
            let mut names = Vec::with_capacity(self.dns.len());
            for d in &self.dns {
                let ia5 = der::asn1::Ia5String::new(d).map_err(x509_cert::builder::Error::from)?;
                names.push(x509_cert::ext::pkix::name::GeneralName::DnsName(ia5));
            }
            ext.push(SubjectAltName(names).to_extension(tbs.subject(), &ext)?);
        }
        ext.push(ski.to_extension(tbs.subject(), &ext)?);
        ext.push(
            AuthorityKeyIdentifier { key_identifier: Some(aki.0), ..Default::default() }
                .to_extension(tbs.subject(), &ext)?,
        );
        Ok(ext)
    }
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut b = [0u8; 16];
    fdl_crypto::random_bytes(&mut b).map_err(|e| PkiError::Issue(e.to_string()))?;
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // no leading zero byte
    SerialNumber::new(&b).map_err(|e| PkiError::Issue(e.to_string()))
}

fn build(profile: Profile, subject_key: &PublicKey, ca_key: &KeyPair, days: u32) -> Result<Vec<u8>, PkiError> {
    let spki_bytes = spki_der(subject_key)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_bytes).map_err(|e| PkiError::Issue(e.to_string()))?;
    let validity = Validity::from_now(Duration::from_secs(u64::from(days) * 86_400))
        .map_err(|e| PkiError::Issue(e.to_string()))?;
    let mut builder = CertificateBuilder::new(profile, random_serial()?, validity, spki)
        .map_err(|e| PkiError::Issue(e.to_string()))?;
    let signer = CaSigner { key: ca_key };
    let tbs = builder.finalize(&signer).map_err(|e| PkiError::Issue(e.to_string()))?;
    let sig = ca_key.sign(&tbs).map_err(|e| PkiError::Issue(e.to_string()))?;
    let bits = BitString::from_bytes(sig.as_bytes()).map_err(|e| PkiError::Issue(e.to_string()))?;
    let cert = builder.assemble(bits, &signer).map_err(|e| PkiError::Issue(e.to_string()))?;
    cert.to_der().map_err(|e| PkiError::Issue(e.to_string()))
}

/// A self-signed root CA certificate for institution `org` (subject `CN=<org> CA, O=<org>`),
/// valid for `days` from now. Returns DER.
///
/// # Errors
/// [`PkiError::BadName`] or an issuing failure.
pub fn create_ca(org: &str, key: &KeyPair, days: u32) -> Result<Vec<u8>, PkiError> {
    let subject = name(&format!("{org} CA"), None, org)?;
    let profile =
        Profile { subject: subject.clone(), issuer: subject, ca: true, purpose: KeyPurpose::Signing, dns: vec![] };
    build(profile, &key.public_key(), key, days)
}

/// A member certificate for `subject_key`, issued by the CA (`ca_der`, `ca_key`): subject
/// `CN=<cn>, OU=<role>, O=<the CA's institution>`, valid for `days` from now. Returns DER.
///
/// # Errors
/// [`PkiError::BadName`], a CA that is not one, or an issuing failure.
pub fn issue(
    ca_der: &[u8],
    ca_key: &KeyPair,
    subject_key: &PublicKey,
    cn: &str,
    role: Role,
    days: u32,
) -> Result<Vec<u8>, PkiError> {
    issue_for(ca_der, ca_key, subject_key, cn, role, days, KeyPurpose::Signing, &[])
}

/// A member certificate like [`issue`]'s, for a key with the given purpose, with DNS names in a
/// subject alternative name when `dns` is not empty (TLCP and TLS clients check the server's).
///
/// # Errors
/// As [`issue`]; [`PkiError::BadName`] for a DNS name that is not a plain host name.
#[allow(clippy::too_many_arguments)]
pub fn issue_for(
    ca_der: &[u8],
    ca_key: &KeyPair,
    subject_key: &PublicKey,
    cn: &str,
    role: Role,
    days: u32,
    purpose: KeyPurpose,
    dns: &[String],
) -> Result<Vec<u8>, PkiError> {
    for d in dns {
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !ok {
            return Err(PkiError::BadName(d.clone()));
        }
    }
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca_info = parse(ca_der)?;
    check_ca(&ca, &ca_info)?;
    if ca_info.public_key != ca_key.public_key() {
        return Err(PkiError::Issue("the CA key does not match the CA certificate".into()));
    }
    let subject = name(cn, Some(role), &ca_info.org)?;
    let issuer = ca.tbs_certificate().subject().clone();
    build(Profile { subject, issuer, ca: false, purpose, dns: dns.to_vec() }, subject_key, ca_key, days)
}

fn dir_string(
    n: &Name,
    which: fn(&Name) -> der::Result<Option<x509_cert::ext::pkix::name::DirectoryString>>,
) -> String {
    which(n).ok().flatten().map(String::from).unwrap_or_default()
}

/// Reads a DER certificate.
///
/// # Errors
/// [`PkiError::Malformed`] or [`PkiError::Unsupported`].
pub fn parse(der: &[u8]) -> Result<CertInfo, PkiError> {
    let cert = Certificate::from_der(der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let public_key = key_from_spki(tbs.subject_public_key_info())?;
    let subject = tbs.subject();
    let role = Role::from_str(&dir_string(subject, Name::organization_unit)).ok();
    let is_ca = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| PkiError::Malformed(e.to_string()))?
        .is_some_and(|(_, bc)| bc.ca);
    Ok(CertInfo {
        common_name: dir_string(subject, Name::common_name),
        org: dir_string(subject, Name::organization),
        role,
        is_ca,
        serial: serial_from_der(tbs.serial_number().as_bytes()),
        not_before: tbs.validity().not_before.to_unix_duration().as_secs(),
        not_after: tbs.validity().not_after.to_unix_duration().as_secs(),
        public_key,
        issuer_common_name: dir_string(tbs.issuer(), Name::common_name),
    })
}

/// Extensions FDL reads or may safely ignore; any other one marked critical is refused
/// (RFC 5280 §4.2).
const KNOWN_EXTENSIONS: [ObjectIdentifier; 5] =
    [BasicConstraints::OID, KeyUsage::OID, SubjectKeyIdentifier::OID, AuthorityKeyIdentifier::OID, SubjectAltName::OID];

/// Extensions of a revocation list FDL reads or may safely ignore.
const KNOWN_CRL_EXTENSIONS: [ObjectIdentifier; 2] = [CrlNumber::OID, AuthorityKeyIdentifier::OID];

fn check_critical(exts: Option<&[Extension]>, known: &[ObjectIdentifier]) -> Result<(), PkiError> {
    match exts.unwrap_or_default().iter().find(|e| e.critical && !known.contains(&e.extn_id)) {
        Some(e) => Err(PkiError::UnknownCriticalExtension(e.extn_id.to_string())),
        None => Ok(()),
    }
}

fn check_same_algorithm(inner: &AlgorithmIdentifierOwned, outer: &AlgorithmIdentifierOwned) -> Result<(), PkiError> {
    if inner == outer {
        Ok(())
    } else {
        Err(PkiError::AlgorithmMismatch { inner: inner.oid.to_string(), outer: outer.oid.to_string() })
    }
}

/// Whether the certificate's key usage has the bit `has` checks; `false` without a key usage.
fn has_usage(cert: &Certificate, has: fn(&KeyUsage) -> bool) -> Result<bool, PkiError> {
    let ku = cert.tbs_certificate().get_extension::<KeyUsage>().map_err(|e| PkiError::Malformed(e.to_string()))?;
    Ok(ku.is_some_and(|(_, ku)| has(&ku)))
}

/// The checks every certificate gets whatever its role: no unknown critical extension, and the
/// same algorithm inside and outside the signature.
fn check_structure(cert: &Certificate) -> Result<(), PkiError> {
    check_critical(cert.tbs_certificate().extensions().map(|e| e.as_slice()), &KNOWN_EXTENSIONS)?;
    check_same_algorithm(cert.tbs_certificate().signature(), cert.signature_algorithm())
}

/// A CA: the CA flag, `keyCertSign`, and the structural checks.
fn check_ca(ca: &Certificate, info: &CertInfo) -> Result<(), PkiError> {
    if !info.is_ca {
        return Err(PkiError::NotCa(info.common_name.clone()));
    }
    if !has_usage(ca, KeyUsage::key_cert_sign)? {
        return Err(PkiError::KeyUsage { cert: info.common_name.clone(), needed: "keyCertSign" });
    }
    check_structure(ca)
}

/// Checks that `der` was issued by the CA `ca_der` and is valid at `now` (Unix seconds), cheap
/// checks first:
/// - the CA has the CA flag and `keyCertSign` in its key usage;
/// - `der`, unless it is the CA itself (a root checking itself), has no CA flag and has
///   `digitalSignature` in its key usage;
/// - neither has a critical extension FDL does not understand, and each names the same
///   signature algorithm inside and outside its signed part;
/// - the issuer name is the CA's subject, and the algorithm is the CA's suite's;
/// - both certificates are within their validity periods;
/// - the CA's signature (SM2 with SM3 and the default id, or Ed25519) verifies.
///
/// Returns what the certificate says.
///
/// # Errors
/// The [`PkiError`] that applies.
pub fn verify(der: &[u8], ca_der: &[u8], now: u64) -> Result<CertInfo, PkiError> {
    let cert = Certificate::from_der(der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let info = parse(der)?;
    let ca_info = parse(ca_der)?;
    check_ca(&ca, &ca_info)?;
    if der != ca_der {
        if info.is_ca {
            return Err(PkiError::LeafIsCa(info.common_name));
        }
        if !has_usage(&cert, KeyUsage::digital_signature)? {
            return Err(PkiError::KeyUsage { cert: info.common_name, needed: "digitalSignature" });
        }
        check_structure(&cert)?;
    }
    if cert.tbs_certificate().issuer() != ca.tbs_certificate().subject() {
        return Err(PkiError::WrongIssuer {
            issuer: cert.tbs_certificate().issuer().to_string(),
            ca: ca.tbs_certificate().subject().to_string(),
        });
    }
    let suite = ca_info.public_key.suite();
    if cert.signature_algorithm().oid != algorithm(suite).oid {
        return Err(PkiError::Unsupported(format!("signature algorithm {}", cert.signature_algorithm().oid)));
    }
    for c in [&info, &ca_info] {
        if now < c.not_before || now > c.not_after {
            return Err(PkiError::Expired { now, not_before: c.not_before, not_after: c.not_after });
        }
    }
    let tbs = cert.tbs_certificate().to_der().map_err(|e| PkiError::Malformed(e.to_string()))?;
    let sig_bytes = cert.signature().as_bytes().ok_or_else(|| PkiError::Malformed("signature bit string".into()))?;
    let sig = Signature::from_bytes(suite, sig_bytes).map_err(|_| PkiError::BadSignature)?;
    ca_info.public_key.verify(&tbs, &sig).map_err(|_| PkiError::BadSignature)?;
    Ok(info)
}

/// The longest serial number RFC 5280 §4.1.2.2 allows, in bytes.
pub const MAX_SERIAL_LEN: usize = 20;

/// The one text form of a certificate serial number that FDL stores and compares: lowercase hex
/// of the DER INTEGER's content bytes, i.e. the shortest two's-complement form, with a leading
/// `00` byte when the top bit of the number is set (`CertInfo::serial` is in this form).
///
/// Accepts what people copy: `openssl x509 -serial` output (`serial=1A2B...`, upper case, without
/// the `00` byte OpenSSL leaves out), `openssl x509 -text` output (`1a:2b:...`), any number of
/// leading zeros, surrounding spaces.
///
/// # Errors
/// [`PkiError::BadSerial`] for anything else: empty, not hex, negative, or above 20 bytes.
pub fn canonical_serial(input: &str) -> Result<String, PkiError> {
    let bad = || PkiError::BadSerial(input.chars().take(80).collect());
    let t = input.trim();
    let t = match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("serial=") => &t[7..],
        _ => t,
    };
    if t.is_empty() || t.len() > 4 * MAX_SERIAL_LEN || !t.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
        return Err(bad());
    }
    let digits: String = t.chars().filter(|c| *c != ':').map(|c| c.to_ascii_lowercase()).collect();
    let digits = digits.trim_start_matches('0');
    let mut out = String::with_capacity(digits.len() + 3);
    if digits.is_empty() {
        out.push_str("00");
        return Ok(out);
    }
    // Pad to whole bytes, then add the sign byte when the top bit is set.
    let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits.to_string() };
    if padded.as_bytes()[0] >= b'8' {
        out.push_str("00");
    }
    out.push_str(&padded);
    if out.len() > 2 * (MAX_SERIAL_LEN + 1) || (out.len() > 2 * MAX_SERIAL_LEN && !out.starts_with("00")) {
        return Err(bad());
    }
    Ok(out)
}

/// [`canonical_serial`] of a serial's DER content bytes (a non-minimal encoding loses its
/// redundant leading zero bytes; a negative one keeps its bytes).
fn serial_from_der(bytes: &[u8]) -> String {
    let mut b = bytes;
    while b.len() > 1 && b[0] == 0 && b[1] < 0x80 {
        b = &b[1..];
    }
    hex::encode(b)
}

/// PEM (`CERTIFICATE`) of a DER certificate.
///
/// # Errors
/// [`PkiError::Malformed`] when encoding fails.
pub fn to_pem(der: &[u8]) -> Result<String, PkiError> {
    pem_encode("CERTIFICATE", der)
}

fn pem_encode(label: &str, der: &[u8]) -> Result<String, PkiError> {
    der::pem::encode_string(label, LineEnding::LF, der).map_err(|e| PkiError::Malformed(e.to_string()))
}

fn pem_decode(expected: &str, pem: &str) -> Result<Vec<u8>, PkiError> {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| PkiError::Malformed(e.to_string()))?;
    if label != expected {
        return Err(PkiError::Malformed(format!("PEM label {label}, expected {expected}")));
    }
    Ok(der)
}

/// DER of a PEM certificate.
///
/// # Errors
/// [`PkiError::Malformed`] when it is not a PEM `CERTIFICATE`.
pub fn from_pem(pem: &str) -> Result<Vec<u8>, PkiError> {
    pem_decode("CERTIFICATE", pem)
}

/// A revoked certificate: its serial (hex) and when it was revoked (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number, hex, as [`CertInfo::serial`].
    pub serial: String,
    /// Revocation time, Unix seconds.
    pub at: u64,
}

fn unix_time(secs: u64) -> Result<Time, PkiError> {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
    Time::try_from(t).map_err(|e| PkiError::Issue(e.to_string()))
}

/// An X.509 v2 certificate revocation list (CRL) of the CA, numbered `number`, listing `revoked`
/// (STD-13.3), issued now and without a `nextUpdate` (in force until a later one replaces it).
/// Returns DER; `openssl crl -CAfile ca.pem -verify` accepts it.
///
/// # Errors
/// A malformed serial, a CA that is not one, or a signing failure.
pub fn create_crl(ca_der: &[u8], ca_key: &KeyPair, revoked: &[Revoked], number: u64) -> Result<Vec<u8>, PkiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| PkiError::Issue(e.to_string()))?
        .as_secs();
    create_crl_at(ca_der, ca_key, revoked, number, now, None)
}

/// [`create_crl`] with explicit `thisUpdate` and `nextUpdate` (Unix seconds).
///
/// # Errors
/// As [`create_crl`].
pub fn create_crl_at(
    ca_der: &[u8],
    ca_key: &KeyPair,
    revoked: &[Revoked],
    number: u64,
    this_update: u64,
    next_update: Option<u64>,
) -> Result<Vec<u8>, PkiError> {
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let info = parse(ca_der)?;
    if !info.is_ca || info.public_key != ca_key.public_key() {
        return Err(PkiError::NotCa(info.common_name));
    }
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let bytes = hex::decode(canonical_serial(&r.serial)?)
            .map_err(|e| PkiError::Issue(format!("serial {}: {e}", r.serial)))?;
        let serial_number: SerialNumber = SerialNumber::new(&bytes).map_err(|e| PkiError::Issue(e.to_string()))?;
        entries.push(RevokedCert { serial_number, revocation_date: unix_time(r.at)?, crl_entry_extensions: None });
    }
    let number = CrlNumber::try_from(number).map_err(|e| PkiError::Issue(e.to_string()))?;
    let next = next_update.map(unix_time).transpose()?;
    let mut builder = CrlBuilder::new_with_this_update(&ca, number, unix_time(this_update)?)
        .map_err(|e| PkiError::Issue(e.to_string()))?
        .with_next_update(next)
        .with_certificates(entries.into_iter());
    let signer = CaSigner { key: ca_key };
    let tbs = builder.finalize(&signer).map_err(|e| PkiError::Issue(e.to_string()))?;
    let sig = ca_key.sign(&tbs).map_err(|e| PkiError::Issue(e.to_string()))?;
    let bits = BitString::from_bytes(sig.as_bytes()).map_err(|e| PkiError::Issue(e.to_string()))?;
    let crl = builder.assemble(bits, &signer).map_err(|e| PkiError::Issue(e.to_string()))?;
    crl.to_der().map_err(|e| PkiError::Issue(e.to_string()))
}

/// How far in the future a revocation list's `thisUpdate` may be (the CA's clock against the
/// block's), in seconds.
pub const CRL_CLOCK_SKEW_S: u64 = 300;

/// Checks a CRL against its CA at `now` (Unix seconds; on chain, the block's time) and returns
/// the revoked serials in canonical form ([`canonical_serial`]), cheap checks first:
/// - the CA is one (CA flag, `keyCertSign`) and is within its validity period;
/// - the CRL's issuer is the CA's subject; its inner and outer signature algorithms are the same
///   and are the CA's suite's; it has no critical extension FDL does not understand;
/// - it is in force: `thisUpdate <= now + CRL_CLOCK_SKEW_S`, and `now <= nextUpdate` when it has
///   one;
/// - the CA's signature verifies.
///
/// # Errors
/// The [`PkiError`] that applies.
pub fn verify_crl(crl_der: &[u8], ca_der: &[u8], now: u64) -> Result<Vec<Revoked>, PkiError> {
    let crl: CertificateList = CertificateList::from_der(crl_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca_info = parse(ca_der)?;
    check_ca(&ca, &ca_info)?;
    if now < ca_info.not_before || now > ca_info.not_after {
        return Err(PkiError::Expired { now, not_before: ca_info.not_before, not_after: ca_info.not_after });
    }
    if &crl.tbs_cert_list.issuer != ca.tbs_certificate().subject() {
        return Err(PkiError::WrongIssuer {
            issuer: crl.tbs_cert_list.issuer.to_string(),
            ca: ca.tbs_certificate().subject().to_string(),
        });
    }
    check_same_algorithm(&crl.tbs_cert_list.signature, &crl.signature_algorithm)?;
    let suite = ca_info.public_key.suite();
    if crl.signature_algorithm.oid != algorithm(suite).oid {
        return Err(PkiError::Unsupported(format!("signature algorithm {}", crl.signature_algorithm.oid)));
    }
    check_critical(crl.tbs_cert_list.crl_extensions.as_deref(), &KNOWN_CRL_EXTENSIONS)?;
    let this_update = crl.tbs_cert_list.this_update.to_unix_duration().as_secs();
    let next_update = crl.tbs_cert_list.next_update.map(|t| t.to_unix_duration().as_secs());
    if this_update > now.saturating_add(CRL_CLOCK_SKEW_S) || next_update.is_some_and(|n| now > n) {
        return Err(PkiError::CrlNotCurrent { now, this_update, next_update });
    }
    let tbs = crl.tbs_cert_list.to_der().map_err(|e| PkiError::Malformed(e.to_string()))?;
    let sig_bytes = crl.signature.as_bytes().ok_or_else(|| PkiError::Malformed("signature bit string".into()))?;
    let sig = Signature::from_bytes(suite, sig_bytes).map_err(|_| PkiError::BadSignature)?;
    ca_info.public_key.verify(&tbs, &sig).map_err(|_| PkiError::BadSignature)?;
    Ok(crl
        .tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .map(|r| Revoked {
            serial: serial_from_der(r.serial_number.as_bytes()),
            at: r.revocation_date.to_unix_duration().as_secs(),
        })
        .collect())
}

/// PEM (`X509 CRL`) of a DER CRL.
///
/// # Errors
/// [`PkiError::Malformed`] when encoding fails.
pub fn crl_to_pem(der: &[u8]) -> Result<String, PkiError> {
    pem_encode("X509 CRL", der)
}

/// DER of a PEM CRL (`X509 CRL`).
///
/// # Errors
/// [`PkiError::Malformed`] when it is not a PEM `X509 CRL`.
pub fn crl_from_pem(pem: &str) -> Result<Vec<u8>, PkiError> {
    pem_decode("X509 CRL", pem)
}
