//! Per-operation costs on the transaction path: signatures, hashes, AEAD, the codec, execution.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, hint::black_box};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fdl_crypto::{KeyPair, PublicKey, Signature, Signer, Suite, hash, seal, verify_batch};
use fdl_exec::{ExecError, StateView, execute_block, genesis_writes};
use fdl_types::{ChainParams, Decode, Encode, Genesis, Payload, SignedTx, TxBody};

fn transfer(k: &KeyPair, to: &KeyPair, nonce: u64) -> SignedTx {
    TxBody {
        chain_id: "bench".into(),
        signer: k.public_key(),
        credential: fdl_types::Credential::None,
        nonce,
        expiry_height: 100,
        payload: Payload::Transfer { to: to.address(), amount: 1, memo: String::new() },
    }
    .sign(k)
    .unwrap()
}

fn signatures(c: &mut Criterion) {
    for suite in [Suite::Sm, Suite::Intl] {
        let k = KeyPair::generate(suite);
        let pk = k.public_key();
        let msg = [7u8; 160];
        let sig = k.sign(&msg).unwrap();
        let mut g = c.benchmark_group(format!("sig/{suite}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("sign", |b| b.iter(|| k.sign(black_box(&msg)).unwrap()));
        g.bench_function("verify", |b| b.iter(|| pk.verify(black_box(&msg), black_box(&sig)).unwrap()));
        g.finish();
    }
    let keys: Vec<KeyPair> = (0..64).map(|_| KeyPair::generate(Suite::Intl)).collect();
    let pks: Vec<PublicKey> = keys.iter().map(Signer::public_key).collect();
    let msgs: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 160]).collect();
    let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m).unwrap()).collect();
    let items: Vec<_> = (0..64).map(|i| (&pks[i], msgs[i].as_slice(), &sigs[i])).collect();
    let mut g = c.benchmark_group("sig/intl");
    g.throughput(Throughput::Elements(64));
    g.bench_function("verify_batch_64", |b| b.iter(|| verify_batch(black_box(&items))));
    g.finish();
}

fn hashing_and_aead(c: &mut Criterion) {
    let data = [1u8; 200];
    let block = vec![2u8; 1024];
    for suite in [Suite::Sm, Suite::Intl] {
        let mut g = c.benchmark_group(format!("hash/{suite}"));
        g.throughput(Throughput::Bytes(200));
        g.bench_function("200B", |b| b.iter(|| hash(suite, black_box(&data))));
        g.finish();
        let key = vec![3u8; fdl_crypto::AEAD_KEY_LEN(suite)];
        let mut g = c.benchmark_group(format!("aead/{suite}"));
        g.throughput(Throughput::Bytes(1024));
        g.bench_function("seal_1KiB", |b| b.iter(|| seal(suite, &key, &[0; 12], b"aad", black_box(&block)).unwrap()));
        g.finish();
    }
}

fn codec(c: &mut Criterion) {
    let (a, b) = (KeyPair::generate(Suite::Sm), KeyPair::generate(Suite::Sm));
    let tx = transfer(&a, &b, 1);
    let bytes = tx.encode();
    let mut g = c.benchmark_group("codec/sm");
    g.bench_function("encode_tx", |bn| bn.iter(|| black_box(&tx).encode()));
    g.bench_function("decode_tx", |bn| bn.iter(|| SignedTx::decode(black_box(&bytes)).unwrap()));
    g.finish();
}

#[derive(Default)]
struct Mem(BTreeMap<Vec<u8>, Vec<u8>>);
impl StateView for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.0.get(key).cloned())
    }
}

fn execution(c: &mut Criterion) {
    let issuer = KeyPair::generate(Suite::Sm);
    let keys: Vec<KeyPair> = (0..100).map(|_| KeyPair::generate(Suite::Sm)).collect();
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: "bench".into(),
        suite: Suite::Sm,
        genesis_time_ms: 0,
        issuer: issuer.address(),
        validators: vec![],
        members: vec![],
        regulator: None,
        observers: vec![],
        balances: keys.iter().map(|k| (k.address(), 1_000_000)).collect(),
        params: ChainParams::default(),
    };
    let mut mem = Mem::default();
    for (k, v) in genesis_writes(&genesis).unwrap() {
        mem.0.insert(k, v.unwrap());
    }
    let txs: Vec<SignedTx> = (0..1000).map(|i| transfer(&keys[i % 100], &keys[(i + 1) % 100], i as u64)).collect();
    let mut g = c.benchmark_group("exec/sm");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000_transfers", |b| {
        b.iter_batched(|| (), |_| execute_block(&mem, 1, 0, black_box(&txs)).unwrap(), BatchSize::SmallInput)
    });
    g.finish();
}

/// A key (SEC1), r, s and the DER signature.
type SigCase = (Vec<u8>, [u8; 32], [u8; 32], Vec<u8>);

/// The fast SM2 verifier against RustCrypto `sm2`, in the same run: new key (no cache), cached
/// key (per-key table) and the reference.
fn sm2_fast(c: &mut Criterion) {
    use fdl_crypto::sm2v;
    use sm2::dsa::signature::Verifier as _;
    fdl_crypto::sm2v::warm_up();
    let keys: Vec<KeyPair> = (0..256).map(|_| KeyPair::generate(Suite::Sm)).collect();
    let msg = [7u8; 160];
    let items: Vec<SigCase> = keys
        .iter()
        .map(|k| {
            let sig = k.sign(&msg).unwrap();
            let der = sm2::dsa::Signature::from_der(sig.as_bytes()).unwrap();
            (k.public_key().to_bytes(), der.r_bytes().into(), der.s_bytes().into(), sig.as_bytes().to_vec())
        })
        .collect();
    let mut g = c.benchmark_group("sm2_verify");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("rustcrypto", |b| {
        b.iter(|| {
            let (key, _, _, der) = &items[i % items.len()];
            i += 1;
            let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(fdl_crypto::SM2_DEFAULT_DISTID, key).unwrap();
            vk.verify(&msg, &sm2::dsa::Signature::from_der(der).unwrap()).unwrap()
        })
    });
    g.bench_function("fast_new_key", |b| {
        b.iter(|| {
            let (key, r, s, _) = &items[i % items.len()];
            i += 1;
            assert!(sm2v::verify_uncached(key, &msg, r, s));
        })
    });
    let fks: Vec<_> = items.iter().map(|(k, ..)| sm2v::FastKey::from_sec1(k).unwrap()).collect();
    let tables: Vec<_> = fks.iter().map(sm2v::KeyTable::build).collect();
    g.bench_function("fast_cached_key", |b| {
        b.iter(|| {
            let j = i % items.len();
            i += 1;
            let (_, r, s, _) = &items[j];
            assert!(sm2v::verify_prehash_with_table(&tables[j], &fks[j].digest(&msg), r, s));
        })
    });
    g.bench_function("table_build", |b| {
        b.iter(|| {
            i += 1;
            sm2v::KeyTable::build(&fks[i % fks.len()])
        })
    });
    g.finish();
}

criterion_group!(benches, signatures, hashing_and_aead, codec, execution, sm2_fast);
criterion_main!(benches);
