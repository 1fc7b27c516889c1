// Command recd-session is the recorder that NSS hands out as a recorded user's shell.
//
// It runs as the user (never SUID), starts the real shell (TLOG_REC_SESSION_SHELL, set by
// pam_recd, else recd's [recorder] shell, else /bin/bash) and streams the session to recd
// over /run/recd/recd.sock. All the logic is in package recorder; this only wires the
// process to it. Nothing in the environment or on the command line can point it at
// another socket or configuration: a recorded user controls both.
package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
	"github.com/recd-dev/recd/recd/recorder"
)

func main() {
	// First thing: no core dumps, no ptrace and no /proc/self/mem for the user, who owns
	// this process (PR_SET_DUMPABLE = 4). The exec'd shell is dumpable again.
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, 4, 0, 0)

	res := recorder.Run(recorder.Options{
		Args:       os.Args,
		Env:        os.Environ(),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		UID:        os.Getuid(),
		SocketPath: proto.SocketPath,
		ConfigPath: config.DefaultPath,
		DropinDir:  config.DefaultDropinDir,
	})
	if res.Signal != 0 {
		// Like tlog: the recorder that was told to stop by a signal dies of it, once the
		// recording is closed.
		signal.Reset(res.Signal)
		_ = syscall.Kill(os.Getpid(), res.Signal)
		time.Sleep(100 * time.Millisecond)
		os.Exit(128 + int(res.Signal))
	}
	os.Exit(res.Status)
}
