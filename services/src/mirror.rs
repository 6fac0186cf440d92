//! The checkpoint mirror: every signed checkpoint, appended as one JSON line to
//! `checkpoints.jsonl` in `BROBYG_CHECKPOINT_MIRROR` as it is signed — outside the database, so
//! that someone who can rewrite the database cannot also rewrite what was signed. `brobyg audit
//! verify` reads it (the same setting, or `--checkpoints PATH`) and fails when the store no longer
//! holds what a mirrored checkpoint signed.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::audit::CheckpointView;
use crate::store::AuditCheckpoint;

/// The file inside the mirror directory.
pub const MIRROR_FILE: &str = "checkpoints.jsonl";

/// Why the mirror could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The file could not be read or written.
    #[error("checkpoint mirror {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a checkpoint.
    #[error("checkpoint mirror {path}, line {line}: not a checkpoint")]
    Malformed {
        /// The file.
        path: String,
        /// The line number (from 1).
        line: usize,
    },
}

/// The append-only mirror file.
#[derive(Clone, Debug)]
pub struct Mirror {
    path: PathBuf,
}

impl Mirror {
    /// The mirror at `path`: a directory (holding [`MIRROR_FILE`], created if missing) or a file.
    pub fn open(path: &Path) -> Result<Self, MirrorError> {
        let io = |source| MirrorError::Io { path: path.display().to_string(), source };
        if path.extension().is_some_and(|e| e == "jsonl") || path.is_file() {
            return Ok(Self { path: path.to_owned() });
        }
        std::fs::create_dir_all(path).map_err(io)?;
        Ok(Self { path: path.join(MIRROR_FILE) })
    }

    /// Every mirrored checkpoint, oldest first (none if the file does not exist yet).
    pub fn read(&self) -> Result<Vec<AuditCheckpoint>, MirrorError> {
        let shown = self.path.display().to_string();
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(MirrorError::Io { path: shown, source }),
        };
        let mut out = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| MirrorError::Io { path: shown.clone(), source })?;
            if line.trim().is_empty() {
                continue;
            }
            let malformed = || MirrorError::Malformed { path: shown.clone(), line: i + 1 };
            let view: CheckpointView = serde_json::from_str(&line).map_err(|_| malformed())?;
            out.push(view.checkpoint().ok_or_else(malformed)?);
        }
        Ok(out)
    }

    /// Appends `checkpoint` and waits until it is on disk.
    pub fn append(&self, c: &AuditCheckpoint) -> Result<(), MirrorError> {
        let io = |source| MirrorError::Io { path: self.path.display().to_string(), source };
        let line = CheckpointView::from(c);
        let mut text = serde_json::to_string(&line).map_err(|e| io(std::io::Error::other(e)))?;
        text.push('\n');
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_appended_and_read_back_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let mirror = Mirror::open(&dir.path().join("mirror")).expect("open");
        assert!(mirror.read().expect("read").is_empty());
        let c = |n: i64| AuditCheckpoint {
            position: crate::store::Cursor { tx: 0, position: n },
            event_count: n,
            feed_hash: format!("h{n}"),
            signed_at: "2026-12-02T00:00:00.000000Z".into(),
            public_key: "k".into(),
            signature: "s".into(),
            tree_root: Some("r".into()),
            tree_frontier: None,
        };
        mirror.append(&c(1)).expect("append");
        mirror.append(&c(5)).expect("append");
        assert_eq!(mirror.read().expect("read"), vec![c(1), c(5)]);
        // The file itself can be named, e.g. a copy an auditor keeps.
        let file = Mirror::open(&dir.path().join("mirror").join(MIRROR_FILE)).expect("file");
        assert_eq!(file.read().expect("read").len(), 2);
    }
}
