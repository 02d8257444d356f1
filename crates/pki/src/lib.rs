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
//! [`verify`] checks a certificate against its CA: the issuer name, the CA's signature, the
//! validity period at a given time and the CA flag. Every certificate this crate issues passes
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
        pkix::{AuthorityKeyIdentifier, BasicConstraints, CrlNumber, KeyUsage, KeyUsages, SubjectKeyIdentifier},
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
    /// Serial number, hex.
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
        let usage =
            if self.ca { KeyUsages::KeyCertSign | KeyUsages::CRLSign } else { KeyUsages::DigitalSignature.into() };
        ext.push(KeyUsage(usage).to_extension(tbs.subject(), &ext)?);
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
    build(Profile { subject: subject.clone(), issuer: subject, ca: true }, &key.public_key(), key, days)
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
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca_info = parse(ca_der)?;
    if !ca_info.is_ca {
        return Err(PkiError::NotCa(ca_info.common_name));
    }
    if ca_info.public_key != ca_key.public_key() {
        return Err(PkiError::Issue("the CA key does not match the CA certificate".into()));
    }
    let subject = name(cn, Some(role), &ca_info.org)?;
    let issuer = ca.tbs_certificate().subject().clone();
    build(Profile { subject, issuer, ca: false }, subject_key, ca_key, days)
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
    let _ = BasicConstraints::OID;
    Ok(CertInfo {
        common_name: dir_string(subject, Name::common_name),
        org: dir_string(subject, Name::organization),
        role,
        is_ca,
        serial: hex::encode(tbs.serial_number().as_bytes()),
        not_before: tbs.validity().not_before.to_unix_duration().as_secs(),
        not_after: tbs.validity().not_after.to_unix_duration().as_secs(),
        public_key,
        issuer_common_name: dir_string(tbs.issuer(), Name::common_name),
    })
}

/// Checks that `der` was issued by the CA `ca_der` and is valid at `now` (Unix seconds):
/// issuer name, CA flag, the CA's signature (SM2 with SM3 and the default id, or Ed25519), and
/// both certificates' validity periods. Returns what the certificate says.
///
/// # Errors
/// The [`PkiError`] that applies.
pub fn verify(der: &[u8], ca_der: &[u8], now: u64) -> Result<CertInfo, PkiError> {
    let cert = Certificate::from_der(der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let info = parse(der)?;
    let ca_info = parse(ca_der)?;
    if !ca_info.is_ca {
        return Err(PkiError::NotCa(ca_info.common_name));
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
    let tbs = cert.tbs_certificate().to_der().map_err(|e| PkiError::Malformed(e.to_string()))?;
    let sig_bytes = cert.signature().as_bytes().ok_or_else(|| PkiError::Malformed("signature bit string".into()))?;
    let sig = Signature::from_bytes(suite, sig_bytes).map_err(|_| PkiError::BadSignature)?;
    ca_info.public_key.verify(&tbs, &sig).map_err(|_| PkiError::BadSignature)?;
    for c in [&info, &ca_info] {
        if now < c.not_before || now > c.not_after {
            return Err(PkiError::Expired { now, not_before: c.not_before, not_after: c.not_after });
        }
    }
    Ok(info)
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
/// (STD-13.3). Returns DER; `openssl crl -CAfile ca.pem -verify` accepts it.
///
/// # Errors
/// A malformed serial, a CA that is not one, or a signing failure.
pub fn create_crl(ca_der: &[u8], ca_key: &KeyPair, revoked: &[Revoked], number: u64) -> Result<Vec<u8>, PkiError> {
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let info = parse(ca_der)?;
    if !info.is_ca || info.public_key != ca_key.public_key() {
        return Err(PkiError::NotCa(info.common_name));
    }
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let bytes = hex::decode(&r.serial).map_err(|e| PkiError::Issue(format!("serial {}: {e}", r.serial)))?;
        let serial_number: SerialNumber = SerialNumber::new(&bytes).map_err(|e| PkiError::Issue(e.to_string()))?;
        entries.push(RevokedCert { serial_number, revocation_date: unix_time(r.at)?, crl_entry_extensions: None });
    }
    let number = CrlNumber::try_from(number).map_err(|e| PkiError::Issue(e.to_string()))?;
    let mut builder = CrlBuilder::new(&ca, number)
        .map_err(|e| PkiError::Issue(e.to_string()))?
        .with_certificates(entries.into_iter());
    let signer = CaSigner { key: ca_key };
    let tbs = builder.finalize(&signer).map_err(|e| PkiError::Issue(e.to_string()))?;
    let sig = ca_key.sign(&tbs).map_err(|e| PkiError::Issue(e.to_string()))?;
    let bits = BitString::from_bytes(sig.as_bytes()).map_err(|e| PkiError::Issue(e.to_string()))?;
    let crl = builder.assemble(bits, &signer).map_err(|e| PkiError::Issue(e.to_string()))?;
    crl.to_der().map_err(|e| PkiError::Issue(e.to_string()))
}

/// Checks a CRL's signature against its CA and returns the revoked serials (hex).
///
/// # Errors
/// [`PkiError::Malformed`], [`PkiError::WrongIssuer`] or [`PkiError::BadSignature`].
pub fn verify_crl(crl_der: &[u8], ca_der: &[u8]) -> Result<Vec<Revoked>, PkiError> {
    let crl: CertificateList = CertificateList::from_der(crl_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca = Certificate::from_der(ca_der).map_err(|e| PkiError::Malformed(e.to_string()))?;
    let ca_info = parse(ca_der)?;
    if &crl.tbs_cert_list.issuer != ca.tbs_certificate().subject() {
        return Err(PkiError::WrongIssuer {
            issuer: crl.tbs_cert_list.issuer.to_string(),
            ca: ca.tbs_certificate().subject().to_string(),
        });
    }
    let suite = ca_info.public_key.suite();
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
            serial: hex::encode(r.serial_number.as_bytes()),
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
