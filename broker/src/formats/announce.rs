//! What formats each member of the cluster reads, and so what the leader may write.
//!
//! Every node announces the format versions it reads in the [`FORMATS_HEADER`] of
//! each Raft RPC answer (`command=1-2;snapshot=4-4;data-dir=1-2`). The leader hears
//! every member that way within a heartbeat and proposes entries in the newest command
//! format **all** members read ([`ClusterFormats::command_format`]). A member not heard
//! from yet, or one answering without the header (a build from before formats had
//! versions), counts as reading format 1 only. So during a rolling upgrade the cluster
//! keeps writing the old format until the last old node is gone, then moves up by
//! itself; nothing an old node cannot read is ever proposed to it.
//!
//! (A downgrade after the cluster moved up is not supported: the newer entries stay in
//! the log. The operations docs say so.)

use super::command::{max_readable, CommandFormat};
use super::data_dir::DATA_DIR_FORMAT;
use crate::raft::NodeId;
use crate::state_machine::SNAPSHOT_FORMAT;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// The Raft RPC answer header in which a node announces the formats it reads.
pub const FORMATS_HEADER: &str = "x-suslik-formats";

/// The versions of one format a node reads, oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormatRange {
    pub min: u32,
    pub max: u32,
}

impl fmt::Display for FormatRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

impl FormatRange {
    fn parse(s: &str) -> Option<FormatRange> {
        let (min, max) = s.split_once('-')?;
        let r = FormatRange {
            min: min.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        };
        (r.min <= r.max).then_some(r)
    }
}

/// The formats one node reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Supported {
    /// Command encodings of log entries ([`super::command`]).
    pub command: FormatRange,
    /// State snapshot layouts.
    pub snapshot: FormatRange,
    /// Data directory layouts ([`super::data_dir`]).
    pub data_dir: FormatRange,
}

impl Supported {
    /// What this process reads (its command formats as limited by
    /// [`super::command::limit_to`]).
    pub fn this_build() -> Supported {
        Supported {
            command: FormatRange {
                min: u32::from(CommandFormat::UNTAGGED.0),
                max: u32::from(max_readable().0),
            },
            snapshot: FormatRange {
                min: SNAPSHOT_FORMAT,
                max: SNAPSHOT_FORMAT,
            },
            data_dir: FormatRange {
                min: 1,
                max: DATA_DIR_FORMAT,
            },
        }
    }

    /// What a build from before versioned formats reads (it announces nothing).
    pub fn unversioned() -> Supported {
        let one = FormatRange { min: 1, max: 1 };
        Supported {
            command: one,
            snapshot: FormatRange { min: 4, max: 4 },
            data_dir: one,
        }
    }

    /// The value of [`FORMATS_HEADER`].
    pub fn to_header(&self) -> String {
        format!(
            "command={};snapshot={};data-dir={}",
            self.command, self.snapshot, self.data_dir
        )
    }

    /// Reads a [`FORMATS_HEADER`] value. Unknown keys (a later build may announce more
    /// formats) are ignored; a missing or garbled known one is `None`.
    pub fn parse_header(value: &str) -> Option<Supported> {
        let mut command = None;
        let mut snapshot = None;
        let mut data_dir = None;
        for part in value.split(';') {
            let Some((key, range)) = part.split_once('=') else {
                continue;
            };
            let slot = match key.trim() {
                "command" => &mut command,
                "snapshot" => &mut snapshot,
                "data-dir" => &mut data_dir,
                _ => continue,
            };
            *slot = Some(FormatRange::parse(range)?);
        }
        Some(Supported {
            command: command?,
            snapshot: snapshot?,
            data_dir: data_dir?,
        })
    }
}

/// What this node heard each peer announce.
#[derive(Debug)]
pub struct ClusterFormats {
    self_id: NodeId,
    heard: Mutex<HashMap<NodeId, Supported>>,
}

impl ClusterFormats {
    pub fn new(self_id: NodeId) -> ClusterFormats {
        ClusterFormats {
            self_id,
            heard: Mutex::default(),
        }
    }

    /// Records what `node` announced in an RPC answer (`None`: the answer had no
    /// [`FORMATS_HEADER`], as from a build before versioned formats).
    pub fn heard(&self, node: NodeId, header: Option<&str>) {
        let supported = match header {
            Some(h) => Supported::parse_header(h).unwrap_or_else(|| {
                tracing::warn!(
                    node,
                    header = h,
                    "a peer announced formats this build cannot read; treating it as format 1"
                );
                Supported::unversioned()
            }),
            None => Supported::unversioned(),
        };
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        if heard.insert(node, supported) != Some(supported) {
            tracing::info!(node, formats = %supported.to_header(), "peer formats");
        }
    }

    /// What `node` reads, as far as this node knows (itself: this build; a peer not
    /// heard from: nothing but format 1).
    pub fn of(&self, node: NodeId) -> Option<Supported> {
        if node == self.self_id {
            return Some(Supported::this_build());
        }
        let heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        heard.get(&node).copied()
    }

    /// The newest command format every one of `members` reads: the format a leader
    /// proposes in.
    pub fn command_format(&self, members: impl IntoIterator<Item = NodeId>) -> CommandFormat {
        let newest = members
            .into_iter()
            .map(|m| {
                self.of(m)
                    .map_or(u32::from(CommandFormat::UNTAGGED.0), |s| s.command.max)
            })
            .fold(u32::from(max_readable().0), u32::min);
        CommandFormat(u16::try_from(newest).unwrap_or(CommandFormat::UNTAGGED.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::COMMAND_FORMAT;

    #[test]
    fn the_header_round_trips_and_ignores_what_a_later_build_adds() {
        let this = Supported::this_build();
        assert_eq!(Supported::parse_header(&this.to_header()), Some(this));
        let later = format!("{};partitions=1-1", this.to_header());
        assert_eq!(Supported::parse_header(&later), Some(this));
        assert_eq!(
            Supported::parse_header("command=2-1;snapshot=4-4;data-dir=1-2"),
            None
        );
        assert_eq!(Supported::parse_header("command=1-2"), None);
        assert_eq!(Supported::parse_header("garbage"), None);
    }

    #[test]
    fn a_lone_node_writes_its_newest_format() {
        let f = ClusterFormats::new(1);
        assert_eq!(f.command_format([1]), COMMAND_FORMAT);
    }

    #[test]
    fn the_cluster_writes_format_1_until_every_member_announced_more() {
        let f = ClusterFormats::new(1);
        // Nobody heard yet: format 1.
        assert_eq!(f.command_format([1, 2, 3]), CommandFormat::UNTAGGED);
        f.heard(2, Some(&Supported::this_build().to_header()));
        assert_eq!(f.command_format([1, 2, 3]), CommandFormat::UNTAGGED);
        // Node 3 is an old binary: it answers without the header.
        f.heard(3, None);
        assert_eq!(f.command_format([1, 2, 3]), CommandFormat::UNTAGGED);
        // Node 3 is upgraded.
        f.heard(3, Some(&Supported::this_build().to_header()));
        assert_eq!(f.command_format([1, 2, 3]), COMMAND_FORMAT);
        // A member removed no longer counts; a new one counts from its first answer.
        assert_eq!(f.command_format([1, 2, 4]), CommandFormat::UNTAGGED);
    }

    #[test]
    fn a_peer_announcing_nonsense_counts_as_format_1() {
        let f = ClusterFormats::new(1);
        f.heard(2, Some("command=zz"));
        assert_eq!(f.of(2), Some(Supported::unversioned()));
    }
}
