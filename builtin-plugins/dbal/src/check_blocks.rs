//! The records of a large create, cut into blocks that are checked by
//! whichever thread is free: a helper thread works through them in order
//! while the writing thread writes; when the block the writer needs next
//! is not ready, the writer checks an unclaimed block itself instead of
//! waiting. So a helper that gets no core (the other one busy with a
//! checkpoint, say) never makes a create slower than checking on the
//! writing thread alone, and one that dies leaves nothing waiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::declared::{check_block, CheckedRecord};
use crate::entity::check::Violation;
use crate::entity::Entity;

/// One block checked: the records that passed, and every violation of
/// the others.
pub type Checked = (Vec<CheckedRecord>, Vec<Violation>);

/// How long the writer waits for a block the helper is checking before
/// it looks whether the helper is still there.
const RECHECK_HELPER: Duration = Duration::from_millis(20);

/// The blocks of one create and who has checked what.
pub struct Blocks<'a> {
    entity: &'a Entity,
    tenant: &'a str,
    records: &'a [&'a Map<String, Value>],
    owner: Option<&'a (String, String)>,
    /// Records per block.
    size: usize,
    /// The next block nobody has claimed.
    next: AtomicUsize,
    /// Checked blocks not yet taken by the writer.
    done: Mutex<Vec<Option<Checked>>>,
    ready: Condvar,
}

impl<'a> Blocks<'a> {
    /// `records` in blocks of `size`, to be checked against `entity` for
    /// `tenant` (and `owner`, as [`check_block`] does).
    pub fn new(
        entity: &'a Entity,
        tenant: &'a str,
        records: &'a [&'a Map<String, Value>],
        owner: Option<&'a (String, String)>,
        size: usize,
    ) -> Self {
        let size = size.max(1);
        let count = records.len().div_ceil(size);
        Self {
            entity,
            tenant,
            records,
            owner,
            size,
            next: AtomicUsize::new(0),
            done: Mutex::new((0..count).map(|_| None).collect()),
            ready: Condvar::new(),
        }
    }

    /// How many blocks there are.
    pub fn count(&self) -> usize {
        self.records.len().div_ceil(self.size)
    }

    /// The helper's work: checks unclaimed blocks until none is left.
    pub fn help(&self) {
        while let Some(block) = self.claim() {
            let checked = self.check(block);
            self.lock()[block] = Some(checked);
            self.ready.notify_all();
        }
    }

    /// Block `block`, checked — by the helper, or here while it is not
    /// ready. `helper_gone` says whether the helper has stopped (finished
    /// or died): a block it claimed and never delivered is checked here.
    pub fn take(&self, block: usize, helper_gone: impl Fn() -> bool) -> Checked {
        loop {
            if let Some(checked) = self.lock()[block].take() {
                return checked;
            }
            match self.claim() {
                Some(claimed) if claimed == block => return self.check(block),
                Some(claimed) => {
                    let checked = self.check(claimed);
                    self.lock()[claimed] = Some(checked);
                }
                None => {
                    // Every block is claimed: `block` is the helper's.
                    let done = self.lock();
                    let (mut done, _) = self
                        .ready
                        .wait_timeout_while(done, RECHECK_HELPER, |d| d[block].is_none())
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(checked) = done[block].take() {
                        return checked;
                    }
                    drop(done);
                    if helper_gone() {
                        return self.check(block);
                    }
                }
            }
        }
    }

    fn claim(&self) -> Option<usize> {
        let block = self.next.fetch_add(1, Ordering::Relaxed);
        (block < self.count()).then_some(block)
    }

    fn check(&self, block: usize) -> Checked {
        let first = block * self.size;
        let end = (first + self.size).min(self.records.len());
        check_block(
            self.entity,
            self.tenant,
            &self.records[first..end],
            first,
            self.owner,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Checked>>> {
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::{json, Map, Value};

    use super::Blocks;
    use crate::entity::load::parse;
    use crate::entity::Entity;

    fn entity() -> Entity {
        let schema = json!({"entity": "item", "fields": {
            "sku": {"type": "string", "required": true, "max_length": 8}}});
        parse(Path::new("item.json"), &schema).expect("schema")
    }

    /// `n` records; those at `bad` break the schema (a `sku` too long).
    fn records(n: usize, bad: &[usize]) -> Vec<Map<String, Value>> {
        (0..n)
            .map(|i| {
                let sku = if bad.contains(&i) {
                    "far-too-long".to_owned()
                } else {
                    format!("s{i}")
                };
                json!({"sku": sku}).as_object().unwrap().clone()
            })
            .collect()
    }

    /// Every block taken in order: the skus that passed, and the indexes
    /// of the records that did not.
    fn taken(blocks: &Blocks<'_>, helper_gone: impl Fn() -> bool) -> (Vec<String>, Vec<usize>) {
        let (mut skus, mut violations) = (Vec::new(), Vec::new());
        for block in 0..blocks.count() {
            let (rows, found) = blocks.take(block, &helper_gone);
            skus.extend(
                rows.iter()
                    .map(|r| r.fields()["sku"].as_str().unwrap().to_owned()),
            );
            violations.extend(found.iter().map(|v| v.index));
        }
        (skus, violations)
    }

    #[test]
    fn without_a_helper_the_writer_checks_every_block_in_order() {
        let (entity, given) = (entity(), records(25, &[3, 24]));
        let given: Vec<&Map<String, Value>> = given.iter().collect();
        let blocks = Blocks::new(&entity, "t", &given, None, 4);
        assert_eq!(blocks.count(), 7);
        let (skus, violations) = taken(&blocks, || true);
        let expected: Vec<String> = (0..25)
            .filter(|i| ![3, 24].contains(i))
            .map(|i| format!("s{i}"))
            .collect();
        assert_eq!(skus, expected);
        assert_eq!(violations, vec![3, 24]);
    }

    #[test]
    fn with_a_helper_every_block_arrives_once_and_in_order() {
        let (entity, given) = (entity(), records(2_000, &[0, 1_999]));
        let given: Vec<&Map<String, Value>> = given.iter().collect();
        let blocks = Blocks::new(&entity, "t", &given, None, 16);
        let (skus, violations) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| blocks.help());
            taken(&blocks, || helper.is_finished())
        });
        assert_eq!(skus.len(), 1_998);
        assert_eq!(skus.first().map(String::as_str), Some("s1"));
        assert_eq!(skus.last().map(String::as_str), Some("s1998"));
        assert_eq!(violations, vec![0, 1_999]);
    }

    #[test]
    fn a_block_a_vanished_helper_claimed_is_checked_by_the_writer() {
        let (entity, given) = (entity(), records(8, &[]));
        let given: Vec<&Map<String, Value>> = given.iter().collect();
        let blocks = Blocks::new(&entity, "t", &given, None, 4);
        // A helper claims both blocks and dies before delivering them.
        assert_eq!(blocks.claim(), Some(0));
        assert_eq!(blocks.claim(), Some(1));
        let (skus, _) = taken(&blocks, || true);
        assert_eq!(skus.len(), 8);
    }
}
