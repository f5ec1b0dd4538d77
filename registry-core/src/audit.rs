//! The audit log: append-only JSON lines, each carrying the SHA-256 of the
//! line before it, so an edited, deleted, reordered or torn line breaks the
//! chain and [`verify`] finds it.
//!
//! Several processes may share one log: every append takes an advisory
//! exclusive lock on the file, reads what others appended since, and
//! continues the chain from the true last line. A torn last line (a crash
//! mid-write) is fenced before the next append: it is terminated and
//! followed by a fence record that names its hash and continues the chain
//! from the last complete line, so [`verify`] checks everything after it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prevHash` of the first line.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    /// SHA-256 (hex) of the previous line; 64 zeros for the first.
    pub prev_hash: String,
    /// On a fence record only: the SHA-256 of the torn line it fences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced: Option<String>,
}

impl AuditRecord {
    /// The record written after a torn line: it names the torn line's hash
    /// and continues the chain from the last complete line.
    fn fence(torn_hash: String) -> Self {
        Self {
            seq: 0,
            time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            tenant_id: None,
            execution_id: String::new(),
            node_id: String::new(),
            node_type: String::new(),
            status: "fence".to_owned(),
            duration_ms: 0.0,
            error_code: None,
            retries: 0,
            recovery_applied: false,
            prev_hash: String::new(),
            fenced: Some(torn_hash),
        }
    }
}

/// What this process knows of the file's end: valid while the file is
/// `length` bytes long.
struct Tail {
    file: File,
    length: u64,
    last_hash: String,
    next_seq: u64,
}

/// An append-only, hash-chained audit log file, safe to share between
/// processes.
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

/// Holds the file's advisory lock until dropped.
struct Locked<'f>(&'f File);

impl<'f> Locked<'f> {
    fn new(file: &'f File) -> std::io::Result<Self> {
        file.lock()?;
        Ok(Self(file))
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Tail {
    /// Brings the tail up to date with the file (others may have appended),
    /// reading only what is new. Returns the torn last line, if the file
    /// ends in one. Call with the lock held.
    fn refresh(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let length = self.file.metadata()?.len();
        if length == self.length {
            return Ok(None);
        }
        // Shorter than we knew (truncated by someone): read it all again.
        let from = if length > self.length { self.length } else { 0 };
        if from == 0 {
            self.last_hash = GENESIS.to_owned();
            self.next_seq = 1;
        }
        let mut content = Vec::new();
        self.file.seek(SeekFrom::Start(from))?;
        (&self.file).take(length - from).read_to_end(&mut content)?;
        self.length = length;
        let (complete, torn) = match content.iter().rposition(|b| *b == b'\n') {
            Some(end) => (&content[..end], &content[end + 1..]),
            None => (&content[..0], &content[..]),
        };
        if !complete.is_empty() || content.first() == Some(&b'\n') {
            for line in complete.split(|b| *b == b'\n') {
                self.last_hash = sha256_hex(line);
                self.next_seq += 1;
            }
        }
        Ok((!torn.is_empty()).then(|| torn.to_vec()))
    }

    /// Writes `record` as the next line. Call with the lock held and the
    /// tail refreshed.
    fn write(&mut self, mut record: AuditRecord, durable: bool) -> std::io::Result<()> {
        record.seq = self.next_seq;
        if record.time.is_empty() {
            record.time =
                humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        }
        record.prev_hash = self.last_hash.clone();
        let mut line = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        let hash = sha256_hex(&line);
        line.push(b'\n');
        // One write call for the whole line keeps it contiguous with
        // O_APPEND; a crash can still tear it, which the next append fences.
        self.file.write_all(&line)?;
        self.file.flush()?;
        if durable {
            self.file.sync_data()?;
        }
        self.length += line.len() as u64;
        self.last_hash = hash;
        self.next_seq += 1;
        Ok(())
    }

    /// Terminates a torn last line and writes the fence record after it.
    fn fence(&mut self, torn: &[u8], durable: bool) -> std::io::Result<()> {
        self.file.write_all(b"\n")?;
        self.length += 1;
        let torn_hash = sha256_hex(torn);
        // The torn line counts as a line; the chain skips over it.
        self.next_seq += 1;
        tracing::warn!(component = "audit", event = "torn_tail_fenced", "the audit log ended in a torn line (a crash while writing?); it was fenced and the chain continues after it");
        self.write(AuditRecord::fence(torn_hash), durable)
    }
}

impl AuditLog {
    /// Opens (or creates) the log at `path` and continues its chain. A torn
    /// last line (a crash mid-write) is fenced. With `durable`, every record
    /// is `fsync`ed.
    pub fn open(path: impl Into<PathBuf>, durable: bool) -> Result<Self, AuditError> {
        let path = path.into();
        let err = |source| AuditError {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(err)?;
        let mut tail = Tail {
            file,
            length: 0,
            last_hash: GENESIS.to_owned(),
            next_seq: 1,
        };
        {
            let locked = tail.file.try_clone().map_err(err)?;
            let _lock = Locked::new(&locked).map_err(err)?;
            if let Some(torn) = tail.refresh().map_err(err)? {
                tail.fence(&torn, durable).map_err(err)?;
            }
        }
        Ok(Self {
            path,
            durable,
            tail: Mutex::new(tail),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` (its `seq` and `prevHash` are filled in, and its
    /// `time` when empty) and flushes
    /// it before returning. Holds the file's lock while it reads what other
    /// processes appended and writes the line.
    pub fn append(&self, record: AuditRecord) -> Result<(), AuditError> {
        let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
        let err = |source| AuditError {
            path: self.path.clone(),
            source,
        };
        let locked = tail.file.try_clone().map_err(err)?;
        let _lock = Locked::new(&locked).map_err(err)?;
        if let Some(torn) = tail.refresh().map_err(err)? {
            tail.fence(&torn, self.durable).map_err(err)?;
        }
        tail.write(record, self.durable).map_err(err)
    }
}

/// The result of checking an audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Complete lines that verified.
    pub verified_lines: u64,
    /// Torn lines (crashes mid-write) fenced by a later append.
    pub fenced_lines: u64,
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
/// `seq` is its line number. A torn line followed by the fence record that
/// names it is skipped over (and counted in `fencedLines`); the chain is
/// checked after it.
pub fn verify(path: &Path) -> std::io::Result<VerifyReport> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut report = VerifyReport {
        verified_lines: 0,
        fenced_lines: 0,
        first_broken: None,
        last_hash: GENESIS.to_owned(),
    };
    let mut line = Vec::new();
    let mut number = 0u64;
    // A line that is not a record, waiting for the fence that names it.
    let mut pending_torn: Option<(u64, String, String)> = None;
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
        let broken = |line: u64, reason: String| BrokenLine { line, reason };
        if !complete {
            report.first_broken = Some(broken(
                number,
                "torn line: the log ends in the middle of a record (a crash while writing?); the next append fences it".to_owned(),
            ));
            break;
        }
        let record: AuditRecord = match serde_json::from_slice(text) {
            Ok(record) => record,
            Err(e) => {
                if pending_torn.is_some() {
                    break;
                }
                pending_torn = Some((
                    number,
                    sha256_hex(text),
                    format!("not a complete audit record ({e})"),
                ));
                continue;
            }
        };
        if let Some((torn_line, torn_hash, why)) = pending_torn.take() {
            if record.fenced.as_deref() != Some(torn_hash.as_str()) {
                report.first_broken = Some(broken(torn_line, why));
                break;
            }
            report.fenced_lines += 1;
        }
        if record.prev_hash != report.last_hash {
            report.first_broken = Some(broken(
                number,
                "prevHash does not match the previous line: a line was edited, removed or reordered".to_owned(),
            ));
            break;
        }
        if record.seq != number {
            report.first_broken = Some(broken(
                number,
                format!("seq is {} but this is line {number}", record.seq),
            ));
            break;
        }
        report.last_hash = sha256_hex(text);
        report.verified_lines += 1;
    }
    if let Some((torn_line, _, why)) = pending_torn {
        if report.first_broken.is_none() {
            report.first_broken = Some(BrokenLine {
                line: torn_line,
                reason: why,
            });
        }
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
            fenced: None,
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

    #[test]
    fn a_torn_tail_is_fenced_by_the_next_append_and_the_rest_is_verified() {
        let (_dir, path) = write_log(3);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"seq\":4,\"time\":\"2026");
        std::fs::write(&path, &text).unwrap();
        let log = AuditLog::open(&path, false).unwrap();
        log.append(record("after-crash")).unwrap();
        log.append(record("later")).unwrap();
        let report = verify(&path).unwrap();
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.fenced_lines, 1);
        assert_eq!(report.verified_lines, 6, "3 before, the fence, 2 after");
    }

    #[test]
    fn an_edit_after_a_fenced_tear_is_detected() {
        let (_dir, path) = write_log(2);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"torn");
        std::fs::write(&path, &text).unwrap();
        let log = AuditLog::open(&path, false).unwrap();
        log.append(record("a")).unwrap();
        log.append(record("b")).unwrap();
        // Edit the record after the fence; the one after it notices.
        let mut all = lines(&path);
        let edited = all.len() - 2;
        all[edited] = all[edited].replace("\"a\"", "\"x\"");
        rewrite(&path, &all);
        let report = verify(&path).unwrap();
        assert_eq!(report.first_broken.unwrap().line, all.len() as u64);
    }

    #[test]
    fn an_edited_torn_line_breaks_its_fence() {
        let (_dir, path) = write_log(2);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"torn");
        std::fs::write(&path, &text).unwrap();
        AuditLog::open(&path, false)
            .unwrap()
            .append(record("a"))
            .unwrap();
        let mut all = lines(&path);
        all[2] = "{\"forged".to_owned();
        rewrite(&path, &all);
        assert_eq!(verify(&path).unwrap().first_broken.unwrap().line, 3);
    }

    #[test]
    fn two_handles_on_one_file_keep_one_chain() {
        let (_dir, path) = write_log(1);
        let a = AuditLog::open(&path, false).unwrap();
        let b = AuditLog::open(&path, false).unwrap();
        for i in 0..10 {
            a.append(record(&format!("a{i}"))).unwrap();
            b.append(record(&format!("b{i}"))).unwrap();
        }
        let report = verify(&path).unwrap();
        assert!(report.is_valid(), "{report:?}");
        assert_eq!(report.verified_lines, 21);
    }
}
