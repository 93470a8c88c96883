//! Passwords are hashed here, at the edge, before anything is published: the
//! plaintext never reaches the log, the broker or the database. argon2id with
//! the crate's default parameters (OWASP's minimum), as a PHC string.
use argon2::{
    Argon2, PasswordHasher,
    password_hash::{self, SaltString},
};
use ledger_domain::Password;
use rand::rngs::OsRng;

#[derive(Debug, thiserror::Error)]
pub enum PasswordHashError {
    #[error("argon2: {0}")]
    Hash(#[from] password_hash::Error),
    /// Every hashing thread is busy and the queue in front of them is full.
    #[error("too many passwords are waiting to be hashed")]
    Busy,
    #[error("the hashing threads are gone")]
    Gone,
}

fn hash_now(password: &Password) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.expose().as_bytes(), &salt).map(|h| h.to_string())
}

type Reply = tokio::sync::oneshot::Sender<Result<String, password_hash::Error>>;
/// The password, where to answer, and its place in the bound (given back once hashed).
type Job = (Password, Reply, tokio::sync::OwnedSemaphorePermit);

/// A fixed set of hashing threads (one per core) behind a bounded queue.
///
/// - Memory: argon2id takes 19 MiB per hash. On a fixed set of threads the
///   allocator keeps at most one such buffer per thread, instead of one per
///   blocking-pool thread (up to 512) that happened to hash.
/// - Overload: past `queue` waiting passwords, `hash` answers `Busy` at once
///   (the API's 503 with `Retry-After`), so a burst cannot pile up requests,
///   each holding its body and connection, behind the hashing.
/// - Fairness: the threads run at idle priority (`SCHED_IDLE` on Linux), so
///   hashing takes the CPU the other requests leave rather than their
///   latency; alone on the machine it still has every core.
pub struct Hasher {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Hashing plus waiting: `threads + queue` places.
    places: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Hasher {
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || {
                lower_priority();
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((password, reply, place)) = job else { return };
                    let hashed = hash_now(&password);
                    drop(place);
                    let _ = reply.send(hashed);
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Self { jobs, places: std::sync::Arc::new(tokio::sync::Semaphore::new(threads + queue)) }
    }

    /// The hash, or `Busy` at once when the queue is full.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordHashError> {
        self.submit(password)?.await.map_err(|_| PasswordHashError::Gone)?.map_err(PasswordHashError::from)
    }

    /// Takes a place (or answers `Busy`) and queues the password for a thread.
    fn submit(
        &self,
        password: Password,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<String, password_hash::Error>>, PasswordHashError> {
        let place = self.places.clone().try_acquire_owned().map_err(|_| PasswordHashError::Busy)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs.send((password, reply, place)).map_err(|_| PasswordHashError::Gone)?;
        Ok(answer)
    }
}

/// The calling thread runs only when nothing else wants the CPU
/// (`SCHED_IDLE` on Linux; nice 19 if that is refused).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: scheduling calls on the calling thread (pid 0 / its own tid);
    // the param struct lives across the call; no other memory is touched.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHash, PasswordVerifier};

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let hash = Hasher::new(1, 0).hash(Password::new("correct horse 1".into())).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse 1", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong", &parsed).is_err());
    }

    #[tokio::test]
    async fn the_pool_hashes_and_answers_busy_at_once_past_its_queue() {
        // One thread, a queue of one: the first hash runs, the second waits,
        // a third finds no place (argon2 takes milliseconds; these are taken
        // within microseconds).
        let hasher = Hasher::new(1, 1);
        let first = hasher.submit(Password::new("correct horse 1".into())).expect("a place");
        let second = hasher.submit(Password::new("correct horse 2".into())).expect("a place");
        let started = std::time::Instant::now();
        let third = hasher.hash(Password::new("correct horse 3".into())).await;
        assert!(matches!(third, Err(PasswordHashError::Busy)), "{third:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(10), "refused without waiting");
        for done in [first.await.unwrap(), second.await.unwrap()] {
            let hash = done.expect("hashed");
            let parsed = PasswordHash::new(&hash).unwrap();
            assert!(hash.starts_with("$argon2id$"));
            assert!(Argon2::default().verify_password(b"wrong", &parsed).is_err());
        }
        // Once the queue drained, hashing works again.
        assert!(hasher.hash(Password::new("correct horse 4".into())).await.is_ok());
    }
}
