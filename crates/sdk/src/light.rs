//! The light client: every verified read is proven from a trust anchor, the genesis, through the
//! commit certificates of the chain's own validators (STD-11.2; ADR 0011).
//!
//! The validator set of block 1 is computed from the genesis document. The set of block `h + 1`
//! is the one in the state after block `h`; when it changes, the client proves the new set from
//! the state entries it is computed from, each with a Merkle proof against the state root of
//! block `h`, whose commit certificate verifies against the set it already trusts. The node
//! only steers: it says where the set changed (`GET /v1/validators?height=`), and whatever it
//! says is proven or refused.

use std::collections::BTreeMap;

use fdl_crypto::{Address, Hash, Suite};
use fdl_schema::{SchemaError, StateView};
use fdl_types::{
    BlockHeader, Encode, Genesis, NodeRole, NodeSpec, Receipt, SignedTx, StatusCode,
    api::{BlockView, CommitView, HeaderView, TxStatusView, TxView},
    merkle::root_from_path,
};

use crate::{
    Client, SdkError, ValidatorSet, VerifiedAccount, check_block_view, verify_account, verify_commit, verify_header,
};

/// Most state entries a validator-set proof may carry (a few per node; far above any real set).
pub const MAX_PROVEN_ENTRIES: usize = 4_096;

/// What a light client trusts: a genesis document (and so its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    genesis: Genesis,
    hash: Hash,
}

impl TrustAnchor {
    /// Anchors trust in `genesis` (a file the user holds, say).
    ///
    /// # Errors
    /// [`SdkError::Verify`] when the document is not a usable genesis.
    pub fn from_genesis(genesis: Genesis) -> Result<Self, SdkError> {
        genesis.validate().map_err(|e| SdkError::Verify(format!("trust anchor: {e}")))?;
        let hash = genesis.hash();
        Ok(TrustAnchor { genesis, hash })
    }

    /// Anchors trust in the genesis hash `hash`: the node's genesis document (`GET /v1/genesis`)
    /// is taken only if it hashes to `hash`.
    ///
    /// # Errors
    /// [`SdkError::Verify`] when the node's genesis is another chain's; transport and API errors.
    pub async fn fetch(client: &Client, hash: &Hash) -> Result<Self, SdkError> {
        let view = client.genesis().await?;
        let genesis: Genesis = serde_json::from_value(view.genesis)
            .map_err(|e| SdkError::Verify(format!("the node's genesis does not parse: {e}")))?;
        let anchor = Self::from_genesis(genesis)?;
        if anchor.hash != *hash {
            return Err(SdkError::Verify(format!(
                "the node runs genesis {}, not the trusted genesis {hash}",
                anchor.hash
            )));
        }
        Ok(anchor)
    }

    /// The genesis hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
}

/// A header whose commit certificate verified against the validator set the light client proved
/// for its height. Only a [`LightClient`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedHeader {
    header: BlockHeader,
    hash: Hash,
    suite: Suite,
    signed_power: u64,
    total_power: u64,
    genesis_hash: Hash,
}

impl TrustedHeader {
    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// Its hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Its height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The chain's suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The voting power that signed its commit certificate.
    pub fn signed_power(&self) -> u64 {
        self.signed_power
    }

    /// The total voting power of the set that decided it.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The genesis it was verified from.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }
}

/// A committed transaction proven to be in a block the light client trusts, with its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The node's answer (the transaction's fields are checked against the block).
    pub view: TxStatusView,
    /// The transaction, as the block holds it.
    pub tx: SignedTx,
    /// Its receipt, proven against the block's receipts root.
    pub receipt: Receipt,
    /// The block it is in.
    pub trust: TrustedHeader,
}

/// A light client of one chain: proven validator sets from the genesis on, used to verify the
/// commit certificate of any header the node shows.
#[derive(Debug, Clone)]
pub struct LightClient {
    suite: Suite,
    chain_id: String,
    genesis_hash: Hash,
    /// Proven sets, by the first block they decide, ascending; the first is block 1's.
    sets: Vec<(u64, ValidatorSet)>,
}

impl LightClient {
    /// A light client trusting `anchor`: the set of block 1 is computed from the genesis state by
    /// the rule the nodes apply.
    ///
    /// # Errors
    /// [`SdkError::Verify`] when the genesis gives no usable validator set.
    pub fn new(anchor: &TrustAnchor) -> Result<Self, SdkError> {
        let g = anchor.genesis();
        let writes = fdl_exec::genesis_writes(g).map_err(|e| SdkError::Verify(format!("genesis state: {e}")))?;
        let view = GenesisState(writes);
        let nodes = fdl_exec::gov::active_nodes(&view).map_err(|e| SdkError::Verify(format!("genesis nodes: {e}")))?;
        let first = validator_set(&nodes, g.suite)?;
        Ok(LightClient {
            suite: g.suite,
            chain_id: g.chain_id.clone(),
            genesis_hash: anchor.hash(),
            sets: vec![(1, first)],
        })
    }

    /// The trusted genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The chain's suite.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The validator set that decides block `height`, proven from the genesis: the node says
    /// where the set changed, and each change it reports is proven (the commit of the block that
    /// made it, by the set before, and the new set from that block's state).
    ///
    /// # Errors
    /// [`SdkError::Verify`] when a change does not prove; transport and API errors.
    pub async fn validator_set(&mut self, client: &Client, height: u64) -> Result<ValidatorSet, SdkError> {
        if height == 0 {
            return Err(SdkError::Verify("block 0 is the genesis state; it has no commit".into()));
        }
        loop {
            let (from, set) = self.trusted_at(height);
            if from == height || client.validators_at(self.suite, Some(height)).await?.same_members(&set) {
                return Ok(set);
            }
            // The node says the set changed after block `from`: find where. `lo` is decided by
            // `set` (proven for `from`, claimed beyond), `hi` by another set (claimed).
            let (mut lo, mut hi) = (from, height);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if client.validators_at(self.suite, Some(mid)).await?.same_members(&set) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let block = client.block(Some(lo)).await?;
            let header = self.check_commit(&block.header, block.commit.as_ref(), &set)?.header;
            let next = self.proven_set(client, hi, &header).await?;
            if next.same_members(&set) {
                return Err(SdkError::Verify(format!(
                    "the node reports a change of the validator set at block {hi} that the state of block {lo} does not show"
                )));
            }
            let at = self.sets.partition_point(|(f, _)| *f < hi);
            self.sets.insert(at, (hi, next));
        }
    }

    /// Verifies that the chain decided the header `view`: its encoding, the chain id, and the
    /// commit certificate of that block (fetched from the node) against the proven set of its
    /// height.
    ///
    /// # Errors
    /// [`SdkError::Verify`] naming the first failure; transport and API errors.
    pub async fn trust_header(&mut self, client: &Client, view: &HeaderView) -> Result<TrustedHeader, SdkError> {
        let header = verify_header(view, self.suite)?;
        let block = client.block(Some(header.height)).await?;
        if block.header.hash != view.hash {
            return Err(SdkError::Verify(format!(
                "header {} is not the block the node serves at height {}",
                view.hash, header.height
            )));
        }
        let set = self.validator_set(client, header.height).await?;
        self.check_commit(&block.header, block.commit.as_ref(), &set)
    }

    /// Verifies a block view: header, transactions and transactions root, and its commit
    /// certificate against the proven set of its height.
    ///
    /// # Errors
    /// [`SdkError::Verify`] naming the first failure; transport and API errors.
    pub async fn verify_block(&mut self, client: &Client, view: &BlockView) -> Result<TrustedHeader, SdkError> {
        let set = self.validator_set(client, view.header.height).await?;
        let (header, signed_power) = check_block_view(view, self.suite, &set)?;
        self.trusted(header, signed_power, &set)
    }

    /// `GET /v1/blocks/{height}` (or the latest), verified ([`LightClient::verify_block`]).
    ///
    /// # Errors
    /// [`SdkError::Verify`] naming the first failure; transport and API errors.
    pub async fn block(
        &mut self,
        client: &Client,
        height: Option<u64>,
    ) -> Result<(BlockView, TrustedHeader), SdkError> {
        let view = client.block(height).await?;
        let trust = self.verify_block(client, &view).await?;
        Ok((view, trust))
    }

    /// The account at `addr`, proven against a header whose commit verifies from the genesis.
    ///
    /// # Errors
    /// [`SdkError::Verify`] when the header or the proof fails; transport and API errors.
    pub async fn account(&mut self, client: &Client, addr: &Address) -> Result<VerifiedAccount, SdkError> {
        let view = client.account_view(addr).await?;
        let trust = self.trust_header(client, &view.header).await?;
        verify_account(&view, &trust)
    }

    /// A committed transaction, proven to be at its index in a verified block, and its receipt
    /// proven against that block's receipts root. A pending or unknown transaction cannot be
    /// proven.
    ///
    /// # Errors
    /// [`SdkError::Verify`] when it is not committed or does not prove; transport and API errors.
    pub async fn tx(&mut self, client: &Client, hash: &Hash) -> Result<VerifiedTx, SdkError> {
        let view = client.tx(hash).await?;
        let (Some(height), Some(index)) = (view.height, view.index) else {
            return Err(SdkError::Verify(format!("transaction {hash} is {}: not in a block yet", view.status)));
        };
        let (block, trust) = self.block(client, Some(height)).await?;
        let shown = block
            .txs
            .get(index as usize)
            .ok_or_else(|| SdkError::Verify(format!("block {height} has no transaction {index}")))?;
        let bytes = hex::decode(&shown.encoded).map_err(|e| SdkError::Verify(format!("tx encoding: {e}")))?;
        let tx = fdl_types::Decode::decode(&bytes).map_err(|e| SdkError::Verify(format!("tx: {e}")))?;
        let tx: SignedTx = tx;
        if tx.id() != *hash || view.hash != *hash {
            return Err(SdkError::Verify(format!("transaction {index} of block {height} is not {hash}")));
        }
        if view.tx.as_ref().is_some_and(|t| *t != TxView::new(&tx)) {
            return Err(SdkError::Verify("the transaction's displayed fields differ from the block's".into()));
        }
        let r = view
            .receipt
            .as_ref()
            .ok_or_else(|| SdkError::Verify(format!("committed transaction {hash} comes without its receipt")))?;
        let status = StatusCode::from_code(r.code).filter(|s| s.as_str() == r.status).ok_or_else(|| {
            SdkError::Verify(format!("receipt status {} (code {}) is not a status", r.status, r.code))
        })?;
        let output = hex::decode(&r.output_hex).map_err(|e| SdkError::Verify(format!("receipt output: {e}")))?;
        let receipt = Receipt { tx_id: r.tx_hash, status, events: r.events.clone(), cost: r.cost, output };
        let path = view
            .receipt_path
            .as_ref()
            .ok_or_else(|| SdkError::Verify("the receipt comes without its inclusion proof".into()))?;
        let header = trust.header();
        let root = root_from_path(self.suite, &receipt.encode(), index as usize, header.tx_count as usize, path);
        if r.tx_hash != *hash || root != Some(header.receipts_root) {
            return Err(SdkError::Verify(format!("the receipt is not the one block {height} commits to for {hash}")));
        }
        Ok(VerifiedTx { view, tx, receipt, trust })
    }

    /// The proven set in force for `height` as far as this client knows: the last proven change
    /// at or below it.
    fn trusted_at(&self, height: u64) -> (u64, ValidatorSet) {
        let i = self.sets.partition_point(|(f, _)| *f <= height);
        // `sets[0]` starts at block 1 and `height >= 1`, so `i >= 1`.
        let (from, set) = &self.sets[i.saturating_sub(1)];
        (*from, set.clone())
    }

    /// Checks a header view and its commit against `set`.
    fn check_commit(
        &self,
        view: &HeaderView,
        commit: Option<&CommitView>,
        set: &ValidatorSet,
    ) -> Result<TrustedHeader, SdkError> {
        let header = verify_header(view, self.suite)?;
        let commit = commit
            .ok_or_else(|| SdkError::Verify(format!("block {} comes without a commit certificate", header.height)))?;
        let signed = verify_commit(commit, &header, self.suite, set)?;
        self.trusted(header, signed, set)
    }

    fn trusted(&self, header: BlockHeader, signed_power: u64, set: &ValidatorSet) -> Result<TrustedHeader, SdkError> {
        if header.chain_id != self.chain_id {
            return Err(SdkError::Verify(format!(
                "block {} is of chain {:?}, not {:?}",
                header.height, header.chain_id, self.chain_id
            )));
        }
        Ok(TrustedHeader {
            hash: header.hash(self.suite),
            header,
            suite: self.suite,
            signed_power,
            total_power: set.total_power(),
            genesis_hash: self.genesis_hash,
        })
    }

    /// The set of block `height`, computed by the chain's rule from state entries proven against
    /// the state root of `parent` (block `height - 1`, already verified).
    async fn proven_set(&self, client: &Client, height: u64, parent: &BlockHeader) -> Result<ValidatorSet, SdkError> {
        let view = client.validator_set_proof(height).await?;
        if view.height != height {
            return Err(SdkError::Verify(format!("asked for the set of block {height}, got {}'s", view.height)));
        }
        if view.entries.len() > MAX_PROVEN_ENTRIES {
            return Err(SdkError::Verify(format!(
                "{} proven entries (at most {MAX_PROVEN_ENTRIES})",
                view.entries.len()
            )));
        }
        let mut entries = BTreeMap::new();
        for e in &view.entries {
            let key = hex::decode(&e.key).map_err(|err| SdkError::Verify(format!("proven key hex: {err}")))?;
            let value = e
                .value
                .as_ref()
                .map(hex::decode)
                .transpose()
                .map_err(|err| SdkError::Verify(format!("proven value hex: {err}")))?;
            let proof = hex::decode(&e.proof).map_err(|err| SdkError::Verify(format!("proof hex: {err}")))?;
            fdl_proof::verify_proof(self.suite, &parent.state_root, &key, value.as_deref(), &proof)
                .map_err(|err| SdkError::Verify(format!("the validator set of block {height}: {err}")))?;
            entries.insert(key, value);
        }
        let nodes = fdl_exec::gov::active_nodes(&ProvenState(entries))
            .map_err(|e| SdkError::Verify(format!("the validator set of block {height}: {e}")))?;
        validator_set(&nodes, self.suite)
    }
}

/// The validators among `nodes`, as the nodes' consensus counts them.
fn validator_set(nodes: &[NodeSpec], suite: Suite) -> Result<ValidatorSet, SdkError> {
    ValidatorSet::new(
        nodes
            .iter()
            .filter(|n| n.role == NodeRole::Validator)
            .filter_map(|n| fdl_crypto::PublicKey::from_bytes(suite, &n.public_key).ok().map(|k| (k, n.power)))
            .collect(),
    )
}

/// The genesis state: every key genesis writes; any other key is absent.
struct GenesisState(BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl StateView for GenesisState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SchemaError> {
        Ok(self.0.get(key).cloned().flatten())
    }
}

/// State entries proven against a trusted state root; reading any other key is an error, so a
/// set is never computed from a value the node did not prove.
struct ProvenState(BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl StateView for ProvenState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SchemaError> {
        self.0
            .get(key)
            .cloned()
            .ok_or_else(|| SdkError::Verify(format!("state key {} is not proven", fdl_schema::printable_key(key))))
            .map_err(|e| SchemaError::State(e.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fdl_crypto::{KeyPair, Signer};
    use fdl_types::{ChainParams, GenesisValidator};

    use super::*;

    fn genesis(keys: &[&KeyPair]) -> Genesis {
        Genesis {
            read_policy: Default::default(),
            chain_id: "c".into(),
            suite: Suite::Sm,
            genesis_time_ms: 1,
            issuer: Address([1; 20]),
            members: vec![],
            regulator: None,
            validators: keys
                .iter()
                .enumerate()
                .map(|(i, k)| GenesisValidator {
                    name: format!("v{i}"),
                    public_key: hex::encode(k.public_key().to_bytes()),
                    power: 10,
                    org: None,
                    peer_id: None,
                    certificate: None,
                })
                .collect(),
            observers: vec![],
            balances: vec![],
            params: ChainParams::default(),
        }
    }

    #[test]
    fn the_first_set_is_the_genesis_validators() {
        let (a, b) = (KeyPair::generate(Suite::Sm), KeyPair::generate(Suite::Sm));
        let g = genesis(&[&a, &b]);
        let lc = LightClient::new(&TrustAnchor::from_genesis(g.clone()).unwrap()).unwrap();
        assert!(lc.sets[0].1.same_members(&ValidatorSet::from_genesis(&g).unwrap()));
        assert_eq!(lc.genesis_hash(), g.hash());
        // Another genesis with the same chain id and other validators is another anchor.
        let other = genesis(&[&KeyPair::generate(Suite::Sm)]);
        assert_ne!(other.hash(), g.hash());
        assert_eq!(other.chain_id, g.chain_id);
    }

    #[test]
    fn an_unproven_key_is_never_read_as_absent() {
        let s = ProvenState(BTreeMap::from([(b"a".to_vec(), None), (b"b".to_vec(), Some(vec![1]))]));
        assert_eq!(s.get(b"a").unwrap(), None);
        assert_eq!(s.get(b"b").unwrap(), Some(vec![1]));
        assert!(s.get(b"c").is_err());
    }
}
