//! The audit log: append-only JSON lines, each carrying the SHA-256 of the
//! line before it, so an edited, deleted, reordered or torn line breaks the
//! chain and [`verify`] finds it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prevHash` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One node execution, as audited. Holds no parameters, outputs or secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Line number in the log, from 1.
    pub seq: u64,
    /// When the execution finished (RFC 3339, UTC).
    pub time: String,
    /// The tenant.
    pub tenant_id: Option<String>,
    /// The execution.
    pub execution_id: String,
    /// The node's id.
    pub node_id: String,
    /// The node type.
    pub node_type: String,
    /// `success`, `error` or `skipped`.
    pub status: String,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// The error code, when it failed.
    pub error_code: Option<String>,
    /// Retries made.
    pub retries: u32,
    /// Whether a recovery strategy produced the result.
    pub recovery_applied: bool,
    /// SHA-256 (hex) of the previous line, [`GENESIS`] for the first.
    pub prev_hash: String,
}

struct Tail {
    file: File,
    last_hash: String,
    next_seq: u64,
}

/// An append-only, hash-chained audit log file.
pub struct AuditLog {
    path: PathBuf,
    durable: bool,
    tail: Mutex<Tail>,
}

/// An audit log that cannot be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("audit log `{path}`: {source}")]
pub struct AuditError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

fn sha256_hex(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

impl AuditLog {
    /// Opens (or creates) the log at `path` and continues its chain. A torn
    /// last line (a crash mid-write) is kept as evidence and terminated, so
    /// [`verify`] reports it. With `durable`, every record is `fsync`ed.
    pub fn open(path: impl Into<PathBuf>, durable: bool) -> Result<Self, AuditError> {
        let path = path.into();
        let err = |source| AuditError {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        let mut content = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(err)?;
        file.read_to_end(&mut content).map_err(err)?;
        let mut last_hash = GENESIS.to_owned();
        let mut next_seq = 1;
        if !content.is_empty() {
            if content.last() != Some(&b'\n') {
                file.write_all(b"\n").map_err(err)?;
                content.push(b'\n');
            }
            let lines = content[..content.len() - 1].split(|b| *b == b'\n');
            let mut count = 0;
            for line in lines {
                last_hash = sha256_hex(line);
                count += 1;
            }
            next_seq = count + 1;
        }
        Ok(Self {
            path,
            durable,
            tail: Mutex::new(Tail {
                file,
                last_hash,
                next_seq,
            }),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (its `seq` and `prevHash` are filled in) and flushes
    /// it before returning.
    pub fn append(&self, mut record: AuditRecord) -> Result<(), AuditError> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        record.seq = tail.next_seq;
        record.prev_hash = tail.last_hash.clone();
        let mut line = serde_json::to_vec(&record).map_err(|e| AuditError {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        let hash = sha256_hex(&line);
        line.push(b'\n');
        let err = |source| AuditError {
            path: self.path.clone(),
            source,
        };
        // One write call for the whole line keeps it contiguous with
        // O_APPEND; a crash can still tear it, which verify reports.
        tail.file.write_all(&line).map_err(err)?;
        tail.file.flush().map_err(err)?;
        if self.durable {
            tail.file.sync_data().map_err(err)?;
        }
        tail.last_hash = hash;
        tail.next_seq += 1;
        Ok(())
    }
}

/// The result of checking an audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Complete lines that verified.
    pub verified_lines: u64,
    /// The first broken line (1-based) and why, if any.
    pub first_broken: Option<BrokenLine>,
    /// The hash of the last verified line (anchor it elsewhere to detect
    /// removal of lines from the end, which a chain alone cannot show).
    pub last_hash: String,
}

/// A line that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLine {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub reason: String,
}

impl VerifyReport {
    /// Whether the whole log verified.
    pub fn is_valid(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Checks the chain of the log at `path`: every line is a complete JSON
/// record whose `prevHash` is the SHA-256 of the line before it and whose
/// `seq` is its line number.
pub fn verify(path: &Path) -> std::io::Result<VerifyReport> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut report = VerifyReport {
        verified_lines: 0,
        first_broken: None,
        last_hash: GENESIS.to_owned(),
    };
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let text = if complete {
            &line[..line.len() - 1]
        } else {
            &line[..]
        };
        let broken = |reason: String| BrokenLine {
            line: number,
            reason,
        };
        if !complete {
            report.first_broken = Some(broken(
                "torn line: the log ends in the middle of a record (a crash while writing?)"
                    .to_owned(),
            ));
            break;
        }
        let record: AuditRecord = match serde_json::from_slice(text) {
            Ok(record) => record,
            Err(e) => {
                report.first_broken = Some(broken(format!("not a complete audit record ({e})")));
                break;
            }
        };
        if record.prev_hash != report.last_hash {
            report.first_broken = Some(broken(
                "prevHash does not match the previous line: a line was edited, removed or reordered".to_owned(),
            ));
            break;
        }
        if record.seq != number {
            report.first_broken = Some(broken(format!(
                "seq is {} but this is line {number}",
                record.seq
            )));
            break;
        }
        report.last_hash = sha256_hex(text);
        report.verified_lines += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(node: &str) -> AuditRecord {
        AuditRecord {
            seq: 0,
            time: "2026-01-01T00:00:00Z".into(),
            tenant_id: Some("t".into()),
            execution_id: "e".into(),
            node_id: node.into(),
            node_type: "string.upper".into(),
            status: "success".into(),
            duration_ms: 0.1,
            error_code: None,
            retries: 0,
            recovery_applied: false,
            prev_hash: String::new(),
        }
    }

    fn write_log(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, false).unwrap();
        for i in 0..n {
            log.append(record(&format!("n{i}"))).unwrap();
        }
        (dir, path)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(
            path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    #[test]
    fn an_untouched_log_verifies_and_reopening_continues_the_chain() {
        let (_dir, path) = write_log(5);
        AuditLog::open(&path, true)
            .unwrap()
            .append(record("again"))
            .unwrap();
        let report = verify(&path).unwrap();
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.verified_lines, 6);
    }

    #[test]
    fn edits_deletions_reordering_and_truncation_are_detected() {
        let (_dir, path) = write_log(5);
        let original = lines(&path);

        let mut edited = original.clone();
        edited[2] = edited[2].replace("\"success\"", "\"error\"");
        rewrite(&path, &edited);
        assert_eq!(verify(&path).unwrap().first_broken.unwrap().line, 4);

        let mut deleted = original.clone();
        deleted.remove(1);
        rewrite(&path, &deleted);
        assert_eq!(verify(&path).unwrap().first_broken.unwrap().line, 2);

        let mut reordered = original.clone();
        reordered.swap(1, 3);
        rewrite(&path, &reordered);
        assert_eq!(verify(&path).unwrap().first_broken.unwrap().line, 2);

        let mut truncated = original.join("\n");
        truncated.truncate(truncated.len() - 20);
        std::fs::write(&path, truncated).unwrap();
        let report = verify(&path).unwrap();
        assert_eq!(report.first_broken.as_ref().unwrap().line, 5);
        assert!(report.first_broken.unwrap().reason.contains("torn"));
        assert_eq!(report.verified_lines, 4);
    }
}
