// Command recd is the recording daemon: it keeps the compiled policy snapshot that the NSS
// and PAM modules read in step with /etc/recd, and it is the only writer of recordings to
// the journal: recorders (recd-session) stream sessions to it over /run/recd/recd.sock.
//
// Under systemd it runs as recd.service (Type=notify, socket-activated by recd.socket);
// run by hand it stays in the foreground and logs to stderr (and its login, logout and
// refusal events also to the journal, when there is one).
//
// recd writes recordings through a child process, itself re-executed as
// "recd journal-writer", whose kernel name is tlog-rec-sessio so that journald records
// _COMM=tlog-rec-sessio and Cockpit lists the recordings (see package
// recd/journalwriter); in ps it shows as "tlog-rec-sessio", a child of recd.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/recd-dev/recd/internal/activate"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/snapshot"
	"github.com/recd-dev/recd/recd/daemon"
	"github.com/recd-dev/recd/recd/dbusapi"
)

const usage = `Usage: recd [options]

recd keeps the session-recording policy in force: it compiles /etc/recd/recd.conf and
/etc/recd/conf.d/*.conf into %s (read by libnss_recd and pam_recd), and
activates every valid change within milliseconds; a change that fails validation is
refused and the last good policy stays in force (see "recctl status").

It listens on %s for recctl and the recorders, and writes the recorded
sessions to the journal in tlog's format (through a child process named tlog-rec-sessio,
the name Cockpit lists recordings by). It runs in the foreground; under systemd use
recd.service.

Options:
`

func main() {
	fs := flag.NewFlagSet("recd", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usage, snapshot.Path, proto.SocketPath)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", config.DefaultPath, "main configuration `file`")
	dropinDir := fs.String("conf-dir", config.DefaultDropinDir, "drop-in `directory` (*.conf, lexical order)")
	snapshotPath := fs.String("snapshot", snapshot.Path, "compiled policy `file` the C modules read")
	socketPath := fs.String("socket", proto.SocketPath, "control socket `path` when not socket-activated")
	useDBus := fs.Bool("dbus", true, "offer the management API (dev.recd.Recd1) on the D-Bus system bus while there is one")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "recd: unexpected argument %q (see recd --help)\n", fs.Arg(0))
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "", 0)
	underSystemd := os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != ""
	if !underSystemd {
		logger.SetPrefix("recd: ")
	}
	act := activate.Options{ConfigPath: *configPath, DropinDir: *dropinDir, SnapshotPath: *snapshotPath}
	// The [recorder] settings of the last configuration that activated (the defaults until
	// one did): recordings follow the configuration in force, never a broken edit.
	var recorder atomic.Pointer[config.Recorder]
	activateFn := func() (string, error) {
		cfg, snap, err := act.Compile()
		if err != nil {
			return "", err
		}
		if err := snapshot.Write(*snapshotPath, snap); err != nil {
			return "", fmt.Errorf("writing %s: %w", *snapshotPath, err)
		}
		recorder.Store(&cfg.Recorder)
		return activate.Summary(snap), nil
	}
	d := daemon.New(daemon.Options{
		ConfigPath: *configPath,
		DropinDir:  *dropinDir,
		WatchFiles: []string{activate.PasswdPath, activate.GroupPath},
		SocketPath: *socketPath,
		Activate:   activateFn,
		Log:        logger,
		Recorder: func() config.Recorder {
			if r := recorder.Load(); r != nil {
				return *r
			}
			return config.Default().Recorder
		},
		EventsToJournalOnly: underSystemd,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *useDBus {
		go dbusapi.Serve(ctx, dbusapi.Options{Backend: dbusBackend{d}, ConfigPath: *configPath, DropinDir: *dropinDir, Log: logger})
	}
	if err := d.Run(ctx); err != nil {
		logger.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

// dbusBackend gives the D-Bus API what it needs from the daemon.
type dbusBackend struct{ *daemon.Daemon }

func (b dbusBackend) Sessions() []dbusapi.Session {
	var out []dbusapi.Session
	for _, s := range b.Daemon.Sessions() {
		out = append(out, dbusapi.Session{User: s.User, Service: s.Service, TTY: s.TTY, RHost: s.RHost,
			UID: s.UID, PID: uint32(s.PID), AuditSession: s.AuditSession, Opened: s.Opened})
	}
	return out
}
