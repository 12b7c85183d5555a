"""The backup progress reporter: a library for copy loops, and the event builder it shares.

Why it exists: a backup, replication or restore tool reports its progress by calling cheap,
synchronous methods from its copy loop (`BackupReporter.update/phase/complete/fail`); numbering,
throttling and durable publishing happen in the background through the shared `Publisher`.
`progress_event` builds the one `backup.progress/1` event, for the reporter and for the
`fleetstream backup-report` command alike.
"""

from producers.backup.reporter import BackupReporter, SeqClock, progress_event

__all__ = ["BackupReporter", "SeqClock", "progress_event"]
