//! In-log fencing. A writer takes a partition by appending a claim whose
//! epoch is above every epoch in it; from that claim on, records of older
//! epochs are ignored by every reader. The first claim in log order wins, so
//! two writers racing with the same epoch cannot both be valid.
use crate::record::LogRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// A claim above the current epoch: it becomes the current writer.
    NewClaim(u64),
    /// A claim that lost (not above the current epoch): ignored.
    StaleClaim,
    /// A decision by the current writer: apply it.
    Valid,
    /// A decision by a superseded (or never-valid) writer: ignore it.
    Superseded,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fence {
    epoch: u64,
    max_seen: u64,
}

impl Fence {
    /// A fence resumed at a known epoch (e.g. the projector's stored one).
    pub fn at(epoch: u64) -> Self {
        Self { epoch, max_seen: epoch }
    }

    /// A fence as a snapshot left it.
    pub fn resumed(epoch: u64, max_seen: u64) -> Self {
        Self { epoch, max_seen: max_seen.max(epoch) }
    }

    /// The epoch of the current valid writer (0 before any claim).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The highest epoch seen on any record; a new claim must exceed it.
    pub fn max_seen(&self) -> u64 {
        self.max_seen
    }

    pub fn admit(&mut self, record: &LogRecord) -> Admit {
        match record {
            LogRecord::Claim(c) => self.admit_claim(c.epoch),
            LogRecord::Decision(d) => self.admit_decision(d.epoch),
            LogRecord::Forward(f) => self.admit_decision(f.epoch),
        }
    }

    pub fn admit_claim(&mut self, epoch: u64) -> Admit {
        self.max_seen = self.max_seen.max(epoch);
        if epoch > self.epoch {
            self.epoch = epoch;
            Admit::NewClaim(epoch)
        } else {
            Admit::StaleClaim
        }
    }

    pub fn admit_decision(&mut self, epoch: u64) -> Admit {
        self.max_seen = self.max_seen.max(epoch);
        // A decision above the current epoch has no claim before it: no
        // correct writer produces that, so it is not trusted either.
        if epoch == self.epoch && epoch > 0 { Admit::Valid } else { Admit::Superseded }
    }
}
