-- Each signed checkpoint also names the root of the RFC 6962 Merkle tree over the feed's chain
-- hashes at its size (signed with the rest: message version 2), and keeps the tree's frontier so
-- that the next checkpoint continues from it. Checkpoints signed before carry neither and keep
-- verifying under message version 1.
ALTER TABLE audit_checkpoints ADD COLUMN tree_root text;
ALTER TABLE audit_checkpoints ADD COLUMN tree_frontier text;
