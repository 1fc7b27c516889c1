// Command recd is the recording daemon: it keeps the compiled policy snapshot that the NSS
// and PAM modules read in step with /etc/recd, and (with the recorder issue) is the only
// writer of recordings to the journal.
//
// Under systemd it runs as recd.service (Type=notify, socket-activated by recd.socket);
// run by hand it stays in the foreground and logs to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/recd-dev/recd/internal/activate"
	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/internal/snapshot"
	"github.com/recd-dev/recd/recd/daemon"
)

const usage = `Usage: recd [options]

recd keeps the session-recording policy in force: it compiles /etc/recd/recd.conf and
/etc/recd/conf.d/*.conf into %s (read by libnss_recd and pam_recd), and
activates every valid change within milliseconds; a change that fails validation is
refused and the last good policy stays in force (see "recctl status").

It listens on %s for recctl and the recorders. It runs in the foreground;
under systemd use recd.service.

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
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "recd: unexpected argument %q (see recd --help)\n", fs.Arg(0))
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "", 0)
	if os.Getenv("JOURNAL_STREAM") == "" && os.Getenv("INVOCATION_ID") == "" {
		logger.SetPrefix("recd: ")
	}
	act := activate.Options{ConfigPath: *configPath, DropinDir: *dropinDir, SnapshotPath: *snapshotPath}
	d := daemon.New(daemon.Options{
		ConfigPath: *configPath,
		DropinDir:  *dropinDir,
		WatchFiles: []string{activate.PasswdPath, activate.GroupPath},
		SocketPath: *socketPath,
		Activate:   func() (string, error) { return act.Activate() },
		Log:        logger,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := d.Run(ctx); err != nil {
		logger.Printf("fatal: %v", err)
		os.Exit(1)
	}
}
