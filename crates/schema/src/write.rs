//! Writes that span more than one key, so the layout of a record split over keys (a member and
//! its CA, a certificate and its DER, a revocation and its listing) is known in one place.

use fdl_crypto::Hash;

use crate::{
    SchemaError, StateWrite, keys,
    records::{CertRecord, MemberRecord, RevocationRecord},
};

/// The writes that store a member record and its CA certificate.
pub fn member_entries(m: &MemberRecord) -> [(Vec<u8>, Vec<u8>); 2] {
    [keys::member(&m.name).entry(m), keys::ca(&m.name).entry(&m.ca_cert)]
}

/// Stores a member record and its CA certificate.
pub fn put_member(w: &mut dyn StateWrite, m: &MemberRecord) {
    for (k, v) in member_entries(m) {
        w.put(k, v);
    }
}

/// Deletes a member record and its CA certificate.
pub fn delete_member(w: &mut dyn StateWrite, name: &str) {
    keys::member(name).delete(w);
    keys::ca(name).delete(w);
}

/// Stores a registered certificate and its DER.
pub fn put_cert(w: &mut dyn StateWrite, hash: &Hash, rec: &CertRecord) {
    keys::cert(hash).write(w, rec);
    keys::cert_der(hash).write(w, &rec.der);
}

/// Records a revocation and lists it (once).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn revoke(w: &mut dyn StateWrite, org: &str, serial: &str, rec: &RevocationRecord) -> Result<(), SchemaError> {
    let slot = keys::revoked(org, serial);
    if w.get(slot.key())?.is_none() {
        let mut list = keys::revocations().read(w)?.unwrap_or_default();
        list.push((org.to_string(), serial.to_string()));
        keys::revocations().write(w, &list);
    }
    slot.write(w, rec);
    Ok(())
}

/// Bumps the identity epoch, so that caches of admission verdicts forget.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn bump_epoch(w: &mut dyn StateWrite) -> Result<(), SchemaError> {
    let e = crate::read::epoch(w)?;
    keys::epoch().write(w, &e.wrapping_add(1));
    Ok(())
}
