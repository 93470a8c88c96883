use async_trait::async_trait;

use crate::Unavailable;

/// A snapshot of one partition's handler state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// The events offset the state stands at: the first record not folded.
    pub next_offset: i64,
    /// The claim epoch of the writer whose records it folded last.
    pub epoch: u64,
    pub state: Vec<u8>,
}

/// Where the command handler keeps its snapshots and registers its claims.
#[async_trait]
pub trait Snapshots: Send + Sync + 'static {
    /// The newest usable snapshot of `partition`: not past `end` (the
    /// partition's next offset: a snapshot ahead of the log is not of this
    /// log) and not from a superseded writer (a registered claim of a higher
    /// epoch before its offset).
    async fn newest_snapshot(
        &self,
        topic: &str,
        partition: i32,
        end: i64,
    ) -> Result<Option<StoredSnapshot>, Unavailable>;
    /// Registers a claim the writer won at `offset`; `false` when a claim
    /// of a higher epoch is registered already (the writer has lost).
    async fn register_claim(
        &self,
        topic: &str,
        partition: i32,
        epoch: u64,
        offset: i64,
        writer: &str,
    ) -> Result<bool, Unavailable>;
    /// Stores a snapshot unless a claim of a higher epoch is registered
    /// (`false` then); keeps the partition's newest few.
    async fn save_snapshot(
        &self,
        topic: &str,
        partition: i32,
        snapshot: &StoredSnapshot,
        writer: &str,
    ) -> Result<bool, Unavailable>;
}
