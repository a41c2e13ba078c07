//! Memory and CPU of a process, read from Linux `/proc`.
//!
//! - `/proc/<pid>/status`: `VmHWM` (peak resident set) and `VmRSS` (current), in kB.
//! - `/proc/<pid>/stat`: `utime` and `stime` (fields 14 and 15), in clock ticks.

use std::io;

/// Resident memory of a process, in kilobytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`).
    pub peak_kb: u64,
    /// Current resident set size (`VmRSS`).
    pub rss_kb: u64,
}

/// Extracts `VmHWM` and `VmRSS` from the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    };
    Some(Memory {
        peak_kb: field("VmHWM")?,
        rss_kb: field("VmRSS")?,
    })
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may itself contain spaces or `)`,
/// so fields are counted from the last `)`: after it come field 3 (state) onwards.
pub fn parse_stat_cpu_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3, so field 14 (utime) is fields[11] and 15 (stime) fields[12].
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Memory of process `pid`.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status(&text).ok_or_else(|| invalid("no VmHWM/VmRSS in /proc/<pid>/status"))
}

/// CPU time (user + system) used so far by process `pid`, in seconds.
pub fn cpu_seconds(pid: u32, ticks_per_second: u64) -> io::Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_cpu_ticks(&text).ok_or_else(|| invalid("malformed /proc/<pid>/stat"))?;
    Ok(ticks as f64 / ticks_per_second.max(1) as f64)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 if that cannot be asked.
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t: &u64| *t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsuslik-bench\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t  912345 kB\nVmSize:\t  812345 kB\nVmHWM:\t   45678 kB\nVmRSS:\t   40000 kB\n\
        RssAnon:\t   30000 kB\nThreads:\t5\n";

    #[test]
    fn status_gives_peak_and_current_rss() {
        assert_eq!(
            parse_status(STATUS),
            Some(Memory {
                peak_kb: 45678,
                rss_kb: 40000
            })
        );
        assert_eq!(parse_status("Name:\tx\nVmRSS:\t1 kB\n"), None);
        // A field name that merely starts like another is not taken for it.
        assert_eq!(
            parse_status("VmHWMx:\t5 kB\nVmHWM:\t7 kB\nVmRSS:\t3 kB\n")
                .unwrap()
                .peak_kb,
            7
        );
    }

    #[test]
    fn stat_sums_utime_and_stime_after_the_command_name() {
        // Field numbers:   1    2              3 4 5 6 7 8  9  10  11 12 13 14  15
        let stat = "4242 (suslik bench) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 7 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(287));
        // A `)` inside the command name does not shift the fields.
        let odd = "7 (a) b) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ticks(odd), Some(11));
        assert_eq!(parse_stat_cpu_ticks("7 (x) R 1 2"), None);
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        let m = memory(pid).unwrap();
        assert!(m.peak_kb >= m.rss_kb && m.rss_kb > 0);
        assert!(cpu_seconds(pid, clock_ticks()).unwrap() >= 0.0);
    }
}
