//! WAL checkpoints off the commit path.
//!
//! With SQLite's automatic checkpoints, the commit that crosses the WAL size
//! threshold copies the WAL into the database file (and fsyncs it) before it
//! returns, so every caller of that batch waits for it. Instead the writer
//! turns automatic checkpoints off and this thread, on a connection of its
//! own, runs `PRAGMA wal_checkpoint(PASSIVE)` every [`INTERVAL`]: a passive
//! checkpoint never blocks the writer or the readers, and copies what it can.
//! The thread stops when the store is dropped (its channel closes).

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often to checkpoint.
pub(crate) const INTERVAL: Duration = Duration::from_millis(200);

/// Starts the checkpointer; dropping the returned sender stops it.
pub(crate) fn spawn(path: PathBuf) -> std::io::Result<(mpsc::Sender<()>, JoinHandle<()>)> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("gantry-store-checkpointer".to_owned())
        .spawn(move || {
            // A checkpointer that cannot open just leaves the WAL to grow
            // until the next open; the store keeps working.
            let Ok(connection) = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            ) else {
                return;
            };
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                // Busy or locked is normal under load: try again next time.
                let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        })?;
    Ok((stop, thread))
}
