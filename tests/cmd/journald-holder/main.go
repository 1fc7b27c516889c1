// Command journald-holder runs systemd-journald inside a test host the way systemd does:
// it owns journald's native socket (/run/systemd/journal/socket, as
// systemd-journald.socket does) and passes it to journald by socket activation, restarting
// journald whenever it exits (Restart=always). So a journald restart in a test loses no
// datagram already queued on the socket — exactly as on a real host, where the socket
// outlives the service.
//
// Usage: journald-holder /lib/systemd/systemd-journald
//
// SIGUSR1 restarts journald (SIGTERM, then start again); SIGTERM stops journald and exits.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

const nativeSocket = "/run/systemd/journal/socket"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: journald-holder PATH-OF-SYSTEMD-JOURNALD")
		os.Exit(2)
	}
	if err := os.MkdirAll("/run/systemd/journal", 0o755); err != nil {
		fail(err)
	}
	_ = os.Remove(nativeSocket)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: nativeSocket, Net: "unixgram"})
	if err != nil {
		fail(err)
	}
	if err := os.Chmod(nativeSocket, 0o666); err != nil {
		fail(err)
	}
	sock, err := conn.File() // a dup without O_CLOEXEC games: ExtraFiles passes it as fd 3
	if err != nil {
		fail(err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	for {
		// LISTEN_PID must be journald's own PID: let sh set it just before exec.
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0"`, os.Args[1])
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.ExtraFiles = []*os.File{sock}
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			fmt.Fprintf(os.Stderr, "journald-holder: journald exited (%v); restarting\n", err)
			time.Sleep(100 * time.Millisecond)
		case s := <-sigs:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-done
			if s != syscall.SIGUSR1 {
				return
			}
			fmt.Fprintln(os.Stderr, "journald-holder: journald restarted on request")
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "journald-holder:", err)
	os.Exit(1)
}
