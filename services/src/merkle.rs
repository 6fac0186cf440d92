//! A Merkle tree over the global feed, as RFC 6962 (Certificate Transparency) defines it: the
//! leaves are the events' chain hashes in feed order, a leaf hashes as `SHA-256(0x00 ‖ leaf)`
//! and a node as `SHA-256(0x01 ‖ left ‖ right)`. Each signed checkpoint names the tree size and
//! root, so an auditor can prove that one event was in the log at a checkpoint, and that a later
//! checkpoint extends an earlier one, without reading the store.
//!
//! [`Frontier`] is the compact form the checkpointer and the verifier keep while they follow the
//! feed: one hash per set bit of the tree size, so the root at any size costs `O(log n)` memory.
//! Proofs come from `ct-merkle` (RFC 6962 proofs, audited against its own test vectors and ours
//! in `tests` below), over the leaves up to the checkpoint.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use sha2::{Digest, Sha256};

/// One leaf: an event's chain hash, as bytes.
pub type Leaf = [u8; 32];

/// `SHA-256(0x00 ‖ leaf)`.
#[must_use]
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256()`.
#[must_use]
pub fn empty_root() -> [u8; 32] {
    Sha256::digest([]).into()
}

/// The perfect subtrees of a tree, left to right: the root at any size in `O(log n)` memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, hash) of each perfect subtree, heights strictly decreasing.
    nodes: Vec<(u32, [u8; 32])>,
}

impl Frontier {
    /// Appends a leaf.
    pub fn push(&mut self, leaf: &[u8]) {
        self.nodes.push((0, leaf_hash(leaf)));
        self.size += 1;
        while self.nodes.len() >= 2 {
            let (h2, right) = self.nodes[self.nodes.len() - 1];
            let (h1, left) = self.nodes[self.nodes.len() - 2];
            if h1 != h2 {
                break;
            }
            self.nodes.truncate(self.nodes.len() - 2);
            self.nodes.push((h1 + 1, node_hash(&left, &right)));
        }
    }

    /// How many leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root (MTH) of the leaves so far.
    #[must_use]
    pub fn root(&self) -> [u8; 32] {
        let mut nodes = self.nodes.iter().rev();
        let Some((_, last)) = nodes.next() else { return empty_root() };
        nodes.fold(*last, |right, (_, left)| node_hash(left, &right))
    }

    /// The frontier as text, to store beside a checkpoint: `size;height:hex,…`.
    #[must_use]
    pub fn to_text(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|(h, n)| format!("{h}:{}", hex::encode(n))).collect();
        format!("{};{}", self.size, nodes.join(","))
    }

    /// A frontier stored by [`Frontier::to_text`]; `None` if malformed.
    #[must_use]
    pub fn from_text(text: &str) -> Option<Self> {
        let (size, nodes) = text.split_once(';')?;
        let size: u64 = size.parse().ok()?;
        let mut parsed = Vec::new();
        for node in nodes.split(',').filter(|n| !n.is_empty()) {
            let (h, n) = node.split_once(':')?;
            parsed.push((h.parse().ok()?, hex::decode(n).ok()?.try_into().ok()?));
        }
        let covered: u64 = parsed.iter().map(|(h, _)| 1u64.checked_shl(*h).unwrap_or(0)).sum();
        (covered == size).then_some(Self { size, nodes: parsed })
    }
}

/// The leaf of an event whose chain hash is `hash_hex`; a malformed hash is hashed as text, so a
/// corrupted row still yields a leaf (and a root that no longer matches).
#[must_use]
pub fn leaf_of(hash_hex: &str) -> Vec<u8> {
    hex::decode(hash_hex).unwrap_or_else(|_| hash_hex.as_bytes().to_vec())
}

fn tree(leaves: &[Vec<u8>]) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut tree = MemoryBackedTree::new();
    for leaf in leaves {
        tree.push(leaf.clone());
    }
    tree
}

/// The audit path of leaf `index` in the tree of `leaves`, with the root it leads to.
#[must_use]
pub fn inclusion_proof(leaves: &[Vec<u8>], index: usize) -> (Vec<[u8; 32]>, [u8; 32]) {
    let tree = tree(leaves);
    let proof = tree.prove_inclusion(index);
    (chunks(proof.as_bytes()), (*tree.root().as_bytes()).into())
}

/// The proof that the tree of the first `from` of `leaves` is a prefix of the tree of all of them.
#[must_use]
pub fn consistency_proof(leaves: &[Vec<u8>], from: usize) -> Vec<[u8; 32]> {
    let tree = tree(leaves);
    chunks(tree.prove_consistency(leaves.len() - from).as_bytes())
}

fn chunks(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes.chunks(32).filter_map(|c| c.try_into().ok()).collect()
}

/// Whether `path` proves `leaf` at `index` in the tree of `size` leaves with `root`.
#[must_use]
pub fn verify_inclusion(leaf: &[u8], index: u64, size: u64, path: &[[u8; 32]], root: &[u8; 32]) -> bool {
    let root = RootHash::<Sha256>::new((*root).into(), size);
    let proof = InclusionProof::<Sha256>::from_bytes(path.concat());
    root.verify_inclusion(&leaf.to_vec(), index, &proof).is_ok()
}

/// Whether `proof` shows that the tree of `from_size` leaves with `from_root` is a prefix of the
/// tree of `to_size` leaves with `to_root`.
#[must_use]
pub fn verify_consistency(
    from_size: u64,
    from_root: &[u8; 32],
    to_size: u64,
    to_root: &[u8; 32],
    proof: &[[u8; 32]],
) -> bool {
    if from_size == to_size {
        return proof.is_empty() && from_root == to_root;
    }
    let Ok(proof) = ConsistencyProof::<Sha256>::try_from_bytes(proof.concat()) else { return false };
    let old = RootHash::<Sha256>::new((*from_root).into(), from_size);
    RootHash::<Sha256>::new((*to_root).into(), to_size).verify_consistency(&old, &proof).is_ok()
}

#[cfg(test)]
mod tests {
    //! The RFC 6962 definitions, written out independently (recursion over `k`, the largest
    //! power of two below `n`), against which the frontier and `ct-merkle`'s proofs are checked.

    use super::*;

    fn k_of(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]).
    fn mth(d: &[Vec<u8>]) -> [u8; 32] {
        match d.len() {
            0 => Sha256::digest([]).into(),
            1 => {
                let mut h = Sha256::new();
                h.update([0u8]);
                h.update(&d[0]);
                h.finalize().into()
            }
            n => {
                let k = k_of(n);
                let mut h = Sha256::new();
                h.update([1u8]);
                h.update(mth(&d[..k]));
                h.update(mth(&d[k..]));
                h.finalize().into()
            }
        }
    }

    /// PATH(m, D[n]).
    fn path(m: usize, d: &[Vec<u8>]) -> Vec<[u8; 32]> {
        let n = d.len();
        if n <= 1 {
            return vec![];
        }
        let k = k_of(n);
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// SUBPROOF(m, D[n], b).
    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<[u8; 32]> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = k_of(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| Sha256::digest(format!("event {i}")).to_vec()).collect()
    }

    #[test]
    fn the_frontier_root_is_the_rfc_6962_root_at_every_size() {
        let d = leaves(70);
        let mut f = Frontier::default();
        assert_eq!(f.root(), mth(&[]));
        for n in 1..=d.len() {
            f.push(&d[n - 1]);
            assert_eq!(f.root(), mth(&d[..n]), "size {n}");
            assert_eq!(Frontier::from_text(&f.to_text()), Some(f.clone()));
        }
        assert_eq!(Frontier::from_text("3;0:00"), None, "a frontier that does not add up is refused");
    }

    #[test]
    fn inclusion_proofs_are_the_rfc_6962_audit_paths_and_verify() {
        let d = leaves(37);
        for n in [1, 2, 3, 7, 8, 13, 37] {
            for m in 0..n {
                let (proof, root) = inclusion_proof(&d[..n], m);
                assert_eq!(root, mth(&d[..n]));
                assert_eq!(proof, path(m, &d[..n]), "PATH({m}, D[{n}])");
                assert!(verify_inclusion(&d[m], m as u64, n as u64, &proof, &root));
                assert!(!verify_inclusion(&d[(m + 1) % n], m as u64, n as u64, &proof, &root) || n == 1);
            }
        }
    }

    #[test]
    fn consistency_proofs_are_the_rfc_6962_proofs_and_verify() {
        let d = leaves(29);
        for n in [2, 3, 8, 13, 29] {
            for m in 1..n {
                let proof = consistency_proof(&d[..n], m);
                assert_eq!(proof, subproof(m, &d[..n], true), "PROOF({m}, D[{n}])");
                assert!(verify_consistency(m as u64, &mth(&d[..m]), n as u64, &mth(&d[..n]), &proof));
                let other = mth(&leaves(m + 1)[1..]);
                assert!(!verify_consistency(m as u64, &other, n as u64, &mth(&d[..n]), &proof));
            }
        }
    }
}
