//! The log protocol of Contact Ledger, free of IO: what a command looks like
//! on the commands topic, what a decision looks like on the events topic,
//! how writers are fenced inside the log, and the handler's state machine.
//! Every reader (handler, projector, API) uses the same `Fence`, so they agree
//! on which records count.
pub mod envelope;
pub mod fence;
pub mod partition;
pub mod record;
pub mod routing;

pub use envelope::{CommandEnvelope, EnvelopeError};
pub use fence::{Admit, Fence};
pub use partition::{
    CLOCK_SKEW, DEDUP_WINDOW_DEFAULT, PartitionState, SNAPSHOT_FORMAT, SnapshotError, Step, decision_time,
};
pub use record::{Claim, CommandPosition, Decision, EncodeError, Encoded, Forward, LogRecord, Outcome, header};
