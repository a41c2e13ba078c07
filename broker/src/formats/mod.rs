//! Every persisted format of a node, with the versions this build reads and writes.
//!
//! Data outlives binaries: a node is upgraded in place on its data directory, and a
//! cluster is upgraded one node at a time, so for a while nodes of two releases
//! exchange log entries and snapshots. Each format therefore carries a version, a build
//! reads every version it ever wrote, and it writes a newer one only when everybody who
//! will read it can:
//!
//! | format | where | version lives | read | written |
//! |---|---|---|---|---|
//! | data directory layout | the data directory | [`data_dir`] marker file | 1 ..= [`DATA_DIR_FORMAT`] | [`DATA_DIR_FORMAT`] (older ones are migrated in place on open) |
//! | command encoding | Raft log entries, on disk and between nodes | a tag in each entry ([`command`]) | 1 ..= [`COMMAND_FORMAT`] | the highest one every member announces ([`announce`]) |
//! | state snapshot | the `snapshot` tree, and snapshots sent to followers | magic + version in its header ([`crate::state_machine::SNAPSHOT_FORMAT`]) | that version | that version |
//!
//! Changing any of these means: raise its version, keep reading the old one (or
//! migrate it), and commit a fixture of the old one (`tests/fixtures/`, opened by
//! `broker/tests/upgrade_fixtures.rs`). docs/storage.md says the same for operators.

pub mod announce;
pub mod command;
pub mod data_dir;

pub use announce::{ClusterFormats, FormatRange, Supported, FORMATS_HEADER};
pub use command::{CommandFormat, COMMAND_FORMAT};
pub use data_dir::{DataDirError, DATA_DIR_FORMAT};
