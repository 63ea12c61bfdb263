//! Commit messages: a readable subject naming what changed, and the `Wharf-Event` trailer
//! recording the log position the commit's tree reflects.

use std::fmt::Write as _;

use wharf_storage::{EventKind, LogEvent};

/// The trailer key naming the log position a commit reflects.
pub const EVENT_TRAILER: &str = "Wharf-Event";

/// How many events a subject names before it says "and N more".
const SUBJECT_EVENTS: usize = 3;

/// `Publish foo 1.2.0`, `Yank bar 0.3.1`, `Unyank bar 0.3.1`.
pub(crate) fn describe_event(event: &LogEvent) -> String {
    let verb = match event.kind {
        EventKind::Release => "Publish",
        EventKind::Yank => "Yank",
        EventKind::Unyank => "Unyank",
        EventKind::OwnerAdd => "Add an owner of",
        EventKind::OwnerRemove => "Remove an owner of",
        EventKind::OwnerKeyAdd => "Add a publisher key of",
        EventKind::OwnerKeyRevoke => "Revoke a publisher key of",
        EventKind::Deprecate => "Deprecate",
        EventKind::Undeprecate => "Withdraw the deprecation of",
    };
    match &event.version {
        Some(version) => format!("{verb} {} {version}", event.package),
        None => format!("{verb} {}", event.package),
    }
}

/// The message of a commit for `events` (at least one), reflecting log position `head`.
pub(crate) fn batch_message(events: &[LogEvent], head: u64) -> String {
    let described: Vec<String> = events.iter().map(describe_event).collect();
    let mut message = if let [only] = described.as_slice() {
        only.clone()
    } else {
        let mut subject = format!(
            "{} events: {}",
            described.len(),
            described[..described.len().min(SUBJECT_EVENTS)].join(", ")
        );
        if described.len() > SUBJECT_EVENTS {
            let _ = write!(subject, " and {} more", described.len() - SUBJECT_EVENTS);
        }
        subject.push_str("\n\n");
        for (event, line) in events.iter().zip(&described) {
            let _ = writeln!(subject, "{line} (event {})", event.seq);
        }
        subject.pop();
        subject
    };
    let _ = write!(message, "\n\n{EVENT_TRAILER}: {head}\n");
    message
}

/// The message of a commit that rewrote the tree from the database.
pub(crate) fn rebuild_message(head: u64, files: usize) -> String {
    format!(
        "Rebuild the index at event {head}\n\n{files} index files and config.json, written from the registry's database.\n\n{EVENT_TRAILER}: {head}\n"
    )
}

/// The message of the root commit a squash makes.
pub(crate) fn squash_message(head: u64, branch: &str) -> String {
    format!(
        "Squash the index history at event {head}\n\nThe earlier history is on branch `{branch}`.\n\n{EVENT_TRAILER}: {head}\n"
    )
}

/// The log position a commit message records, from its last `Wharf-Event:` line.
pub fn event_of_message(message: &str) -> Option<u64> {
    message.lines().rev().find_map(|line| {
        line.strip_prefix(EVENT_TRAILER)?
            .strip_prefix(':')?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: EventKind, package: &str, version: &str) -> LogEvent {
        LogEvent {
            seq,
            kind,
            package: package.into(),
            version: Some(version.into()),
            actor: "alice".into(),
            time: 0,
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn one_event_is_the_subject() {
        let message = batch_message(&[event(7, EventKind::Release, "foo", "1.2.0")], 7);
        assert_eq!(message, "Publish foo 1.2.0\n\nWharf-Event: 7\n");
        assert_eq!(event_of_message(&message), Some(7));
    }

    #[test]
    fn a_batch_names_its_first_events_and_lists_all() {
        let events = [
            event(3, EventKind::Release, "foo", "1.2.0"),
            event(4, EventKind::Yank, "bar", "0.3.1"),
            event(5, EventKind::Unyank, "bar", "0.3.1"),
            event(6, EventKind::Release, "baz", "0.1.0"),
        ];
        let message = batch_message(&events, 9);
        let mut lines = message.lines();
        assert_eq!(
            lines.next(),
            Some("4 events: Publish foo 1.2.0, Yank bar 0.3.1, Unyank bar 0.3.1 and 1 more")
        );
        assert!(message.contains("\nPublish baz 0.1.0 (event 6)\n"));
        assert!(message.ends_with("\n\nWharf-Event: 9\n"));
        assert_eq!(event_of_message(&message), Some(9));
    }

    #[test]
    fn messages_without_a_trailer_record_nothing() {
        assert_eq!(event_of_message("Initial commit\n"), None);
        assert_eq!(event_of_message("Wharf-Event: x\n"), None);
        assert_eq!(event_of_message(&rebuild_message(12, 3)), Some(12));
        assert_eq!(
            event_of_message(&squash_message(5, "snapshot-2026-12-06")),
            Some(5)
        );
    }
}
