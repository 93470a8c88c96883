//! The adapter's one error type. Callers outside this crate mostly see it
//! through the `Unavailable` port error: a read model that cannot answer is
//! infrastructure trouble, never a client mistake.
use ledger_ports::Unavailable;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row that does not read back as the type it was written from.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("could not encode JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A number from the log that does not fit the PostgreSQL column type it
    /// is stored in.
    #[error("{value} does not fit a {column_type}")]
    OutOfRange { value: String, column_type: &'static str },
    /// A record of another partition given to a projection of one partition.
    #[error("a projection of partition {locked} was given a record of partition {given}")]
    WrongPartition { locked: i32, given: i32 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(table: &'static str, reason: impl ToString) -> Self {
        Error::Corrupt { table, reason: reason.to_string() }
    }
}

impl From<Error> for Unavailable {
    fn from(e: Error) -> Self {
        Unavailable(e.to_string())
    }
}

/// u64 counters of the domain (versions, numbers, epochs) as bigint.
pub(crate) fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::OutOfRange { value: n.to_string(), column_type: "bigint" })
}

/// Small numbers of the domain (event versions, positions in a batch) as integer.
pub(crate) fn to_i32<N: Copy + TryInto<i32> + std::fmt::Display>(n: N) -> Result<i32> {
    n.try_into().map_err(|_| Error::OutOfRange { value: n.to_string(), column_type: "integer" })
}

/// A bigint read back; negative values cannot have been written by us.
pub(crate) fn to_u64(table: &'static str, n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::corrupt(table, format!("negative counter {n}")))
}
