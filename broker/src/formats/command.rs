//! The versioned encoding of a Raft log entry's payload, a [`Request`].
//!
//! Log entries are bincode, on disk and between nodes, and bincode is not
//! self-describing: a build that meets an entry of a layout it does not know would
//! decode garbage. So every entry says which command format it is in:
//!
//! - **format 1** (every build before formats had versions): the bincode of
//!   `Request { commands: Vec<Command> }`, i.e. the number of commands as a `u64`
//!   followed by the commands.
//! - **format 2 and later**: a `u64` tag, [`TAG_BASE`] plus the format number, then the
//!   commands as in format 1. A format-1 entry cannot start with a tag: its first `u64`
//!   is a command count (at most a few thousand), and a tag is above 2^62.
//!
//! A build reads every format up to [`max_readable`] and refuses a newer one with an
//! error naming both, never a wrong decode. It writes the format the leader chose when
//! it proposed the entry ([`super::announce`]: the highest one every member reads), so
//! an old node in a cluster being upgraded never receives an entry it cannot read.
//!
//! Format 2 encodes the same commands as format 1; what it adds is the tag, so that a
//! later format can change a command's layout or add a command.

use crate::state_machine::{Command, Request};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::atomic::{AtomicU16, Ordering};

/// A command format version (see the module docs).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub struct CommandFormat(pub u16);

impl CommandFormat {
    /// The format of every build before formats had versions.
    pub const UNTAGGED: CommandFormat = CommandFormat(1);
}

impl Default for CommandFormat {
    fn default() -> Self {
        COMMAND_FORMAT
    }
}

impl fmt::Display for CommandFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The newest command format this build reads and writes.
pub const COMMAND_FORMAT: CommandFormat = CommandFormat(2);

/// The first `u64` of a tagged entry is this plus its format.
pub const TAG_BASE: u64 = 0x5355_534C_0000_0000; // "SUSL" in the high bytes

/// The newest format this process reads (and announces): [`COMMAND_FORMAT`] unless
/// lowered by [`limit_to`].
static MAX_READABLE: AtomicU16 = AtomicU16::new(COMMAND_FORMAT.0);

/// The newest command format this process reads, writes and announces.
pub fn max_readable() -> CommandFormat {
    CommandFormat(MAX_READABLE.load(Ordering::Relaxed))
}

/// Makes this process behave, for command formats, like a build whose newest format
/// is `max` (at least 1, at most [`COMMAND_FORMAT`]): it announces `max`, never
/// proposes anything newer, and refuses newer entries as such a build would. This is
/// how a test stands a node in for an old binary during a rolling upgrade
/// (`suslik serve --max-command-format`). Process-wide, set once at start-up.
pub fn limit_to(max: CommandFormat) -> Result<(), String> {
    if max < CommandFormat::UNTAGGED || max > COMMAND_FORMAT {
        return Err(format!(
            "command format {max} is not one this build knows (1 ..= {COMMAND_FORMAT})"
        ));
    }
    MAX_READABLE.store(max.0, Ordering::Relaxed);
    Ok(())
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            if self.format == CommandFormat::UNTAGGED {
                // Exactly what the derive of format-1 builds wrote.
                let mut st = s.serialize_struct("Request", 1)?;
                st.serialize_field("commands", &self.commands)?;
                return st.end();
            }
            let mut t = s.serialize_tuple(2)?;
            t.serialize_element(&(TAG_BASE + u64::from(self.format.0)))?;
            t.serialize_element(&self.commands)?;
            return t.end();
        }
        // Human-readable forms (debug dumps) are self-describing: a plain struct.
        let mut st = s.serialize_struct("Request", 2)?;
        st.serialize_field("format", &self.format)?;
        st.serialize_field("commands", &self.commands)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Plain {
                format: CommandFormat,
                commands: Vec<Command>,
            }
            let p = Plain::deserialize(d)?;
            check_readable::<D::Error>(p.format)?;
            return Ok(Request {
                format: p.format,
                commands: p.commands,
            });
        }
        // A "tuple" as long as needed: bincode reads its elements one after the other,
        // so the visitor decides from the first `u64` what follows.
        d.deserialize_tuple(usize::MAX, EntryVisitor)
    }
}

fn check_readable<E: de::Error>(format: CommandFormat) -> Result<(), E> {
    let max = max_readable();
    if format > max {
        return Err(E::custom(format!(
            "a log entry in command format {format}, newer than this build reads \
             (1 ..= {max}): this node needs a newer suslik binary"
        )));
    }
    if format < CommandFormat::UNTAGGED {
        return Err(E::custom(format!(
            "a log entry tagged with command format {format}, which no build writes: the \
             entry is corrupt"
        )));
    }
    Ok(())
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Request;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a log entry's commands (a command format tag or a command count first)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Request, A::Error> {
        let first: u64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::custom("an empty log entry"))?;
        if first >= TAG_BASE {
            let format = u16::try_from(first - TAG_BASE)
                .map(CommandFormat)
                .map_err(|_| {
                    de::Error::custom(format!(
                        "a log entry with tag {first:#x}, which is no command format: the \
                         entry is corrupt"
                    ))
                })?;
            check_readable::<A::Error>(format)?;
            let commands: Vec<Command> = seq
                .next_element()?
                .ok_or_else(|| de::Error::custom("a tagged log entry without commands"))?;
            return Ok(Request { format, commands });
        }
        // Format 1: `first` is the number of commands that follow.
        check_readable::<A::Error>(CommandFormat::UNTAGGED)?;
        let count = usize::try_from(first)
            .map_err(|_| de::Error::custom(format!("a log entry of {first} commands")))?;
        let mut commands = Vec::with_capacity(count.min(4096));
        for i in 0..count {
            let c = seq.next_element()?.ok_or_else(|| {
                de::Error::custom(format!(
                    "a log entry that ends after {i} of {count} commands"
                ))
            })?;
            commands.push(c);
        }
        Ok(Request {
            format: CommandFormat::UNTAGGED,
            commands,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Millis;

    fn commands() -> Vec<Command> {
        vec![
            Command::FireTimers { now: Millis(7) },
            Command::AckWebhook { upto: 3 },
        ]
    }

    /// What every build before versioned formats wrote: the derive of this struct.
    #[derive(Serialize, Deserialize)]
    struct Format1 {
        commands: Vec<Command>,
    }

    #[test]
    fn a_format_1_entry_written_by_an_old_build_reads_as_format_1() {
        let old = bincode::serialize(&Format1 {
            commands: commands(),
        })
        .unwrap();
        let req: Request = bincode::deserialize(&old).unwrap();
        assert_eq!(req.format, CommandFormat::UNTAGGED);
        assert_eq!(req.commands, commands());
    }

    #[test]
    fn a_format_1_request_is_written_byte_for_byte_as_old_builds_wrote_it() {
        let req = Request {
            format: CommandFormat::UNTAGGED,
            commands: commands(),
        };
        let old = bincode::serialize(&Format1 {
            commands: commands(),
        })
        .unwrap();
        assert_eq!(bincode::serialize(&req).unwrap(), old);
        // So an old build reads it.
        let back: Format1 = bincode::deserialize(&old).unwrap();
        assert_eq!(back.commands, commands());
    }

    #[test]
    fn the_current_format_is_tagged_and_round_trips() {
        let req = Request::new(commands());
        assert_eq!(req.format, COMMAND_FORMAT);
        let bytes = bincode::serialize(&req).unwrap();
        let tag = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert_eq!(tag, TAG_BASE + u64::from(COMMAND_FORMAT.0));
        let back: Request = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn an_entry_newer_than_this_build_is_refused_by_name() {
        let mut bytes = bincode::serialize(&Request::new(commands())).unwrap();
        bytes[..8].copy_from_slice(&(TAG_BASE + 9).to_le_bytes());
        let err = bincode::deserialize::<Request>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("command format 9, newer than this build reads"),
            "{err}"
        );
    }

    #[test]
    fn a_corrupt_tag_or_a_short_entry_is_an_error_not_a_panic() {
        let mut bytes = bincode::serialize(&Request::new(commands())).unwrap();
        bytes[..8].copy_from_slice(&(TAG_BASE + (1 << 20)).to_le_bytes());
        let err = bincode::deserialize::<Request>(&bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no command format"), "{err}");

        let full = bincode::serialize(&Format1 {
            commands: commands(),
        })
        .unwrap();
        for cut in 0..full.len() {
            assert!(bincode::deserialize::<Request>(&full[..cut]).is_err());
        }
    }

    #[test]
    fn human_readable_forms_name_the_format() {
        let req = Request::new(commands());
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(json["format"], 2);
        let back: Request = serde_json::from_value(json).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn a_format_outside_the_known_ones_cannot_be_announced() {
        assert!(limit_to(CommandFormat(0)).is_err());
        assert!(limit_to(CommandFormat(COMMAND_FORMAT.0 + 1)).is_err());
    }
}
