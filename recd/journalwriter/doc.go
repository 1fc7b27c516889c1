// Package journalwriter is how recd writes recordings to the journal under the name
// Cockpit looks for, while recd itself stays "recd".
//
// # Why a separate process
//
// Cockpit (cockpit-session-recording) lists recordings with
// `journalctl _COMM=tlog-rec _COMM=tlog-rec-sessio`. _COMM is a trusted field: journald
// does not take it from the entry but reads /proc/<pid>/comm of the process that sent the
// datagram (its PID comes with the datagram as SCM_CREDENTIALS). tlog gets
// "tlog-rec-sessio" because that is its program's file name cut to the 15 characters a
// comm holds. recd is one program that must be listed under that name for recordings and
// must still be "recd" in ps, top, `systemctl status` and its own log lines. A comm
// belongs to a thread, and /proc/<pid>/comm shows the main thread's; renaming recd's main
// thread would rename recd. So recd starts a child for the journal:
//
//   - recd re-executes itself from /proc/self/exe (the running binary, even after a
//     package upgrade replaced the file) with the argument "journal-writer" and one end of
//     a socketpair as fd 3.
//   - In the child, an init function of this package sees that argument and becomes the
//     writer before main runs: Go runs package initialization on the main thread (the
//     runtime keeps the main goroutine locked to it until main.main), so
//     prctl(PR_SET_NAME, "tlog-rec-sessio") there names the main thread, which is what
//     /proc/<pid>/comm and therefore journald's _COMM show. The child's /proc/<pid>/exe is
//     still recd's binary, so journald records _EXE=<path of recd> and, since the child
//     runs as root, _UID=0 — the trusted fields `recctl verify` checks to tell recd's
//     entries from ones a user forges with logger or systemd-cat.
//   - The child does nothing but write: it reads complete, already serialized entries from
//     recd, sends each to journald's native socket (/run/systemd/journal/socket; one
//     datagram per entry, or a sealed memfd passed as SCM_RIGHTS when the entry is too
//     large for a datagram, as libsystemd does) and acknowledges it to recd once the
//     socket accepted it. It holds no recording state, parses nothing from users, and
//     cannot be told where to write by anyone but recd.
//
// # Nothing dropped
//
// While journald is unreachable (stopped, restarting) or its queue is full, the child
// retries the same entry until journald takes it, logging through recd that it waits. It
// never drops an entry. Entries pile up in recd (bounded by Options.MaxQueued, then
// Write blocks), recd does not acknowledge the recorders, and they buffer.
//
// If the child dies, recd starts a new one and sends again every entry that was not
// acknowledged, in order. An entry the dead child had handed to journald just before
// dying can so appear twice; every recording entry carries RECD_ENTRY, so readers see the
// duplicate for what it is. The child gets PDEATHSIG SIGKILL: when recd is killed, its
// writer goes too, so that a restarted recd never races an old writer that is still
// sending. It ignores SIGTERM and SIGINT (a service stop signals the whole cgroup, ^C the
// whole process group) and exits when recd closes its end of the socketpair, after
// sending everything recd gave it.
//
// # The protocol between recd and the child
//
// A byte stream on a SOCK_STREAM socketpair:
//
//	recd  → child  'E' seq(uint64 BE) len(uint32 BE) entry   — entry in journald's native format
//	child → recd   'H' pid(uint32 BE)                        — once, after the rename
//	child → recd   'A' seq(uint64 BE)                        — journald's socket took entry seq
//	child → recd   'L' len(uint32 BE) text                   — a diagnostic for recd's log
//
// Acknowledgements come in order, so 'A' n confirms every entry up to n.
//
// Options.Socket changes journald's socket path for tests only; users cannot set it.
package journalwriter
