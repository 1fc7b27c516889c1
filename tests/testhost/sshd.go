package testhost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultSSHPort is the port sshd listens on, on 127.0.0.1 of the host's private
	// network namespace; hosts do not share it, so every host can use it.
	DefaultSSHPort = 2222
	clientKeyPath  = HostDir + "/id_ed25519"
	sshdConfigPath = "/etc/ssh/sshd_config"
	sshdKeyDir     = "/etc/ssh/testhost"
)

// SSHDOptions configures StartSSHD. The zero value is a sensible test sshd: port 2222
// on 127.0.0.1, PAM on, public keys only, root only with a key, LogLevel VERBOSE.
type SSHDOptions struct {
	// Port to listen on (default DefaultSSHPort).
	Port int
	// PasswordAuthentication allows passwords (see UserPassword).
	PasswordAuthentication bool
	// Extra is appended to the generated sshd_config. sshd keeps the first value it
	// reads for most keywords, so use it for keywords the default does not set and
	// for Match blocks.
	Extra string
}

// ClientKey returns the path inside the host of the host's SSH client private key
// (ed25519, no passphrase), creating it on first use.
func (h *Host) ClientKey() string {
	h.t.Helper()
	if h.clientKey == "" {
		if _, err := h.TryReadFile(clientKeyPath); err != nil {
			h.MustRun(h.t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "testhost-client@"+h.name, "-f", clientKeyPath)
		}
		h.clientKey = clientKeyPath
	}
	return h.clientKey
}

// AuthorizeKey adds the host's client key to user's ~/.ssh/authorized_keys with the
// ownership and modes sshd's StrictModes wants.
func (h *Host) AuthorizeKey(user string) {
	h.t.Helper()
	pub := h.ClientKey() + ".pub"
	script := `set -eu
u="$1"; pub="$2"
home=$(getent passwd "$u" | cut -d: -f6)
grp=$(id -gn "$u")
install -d -m 0700 -o "$u" -g "$grp" "$home/.ssh"
cat "$pub" >> "$home/.ssh/authorized_keys"
chown "$u:$grp" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"`
	h.MustRun(h.t, "bash", "-c", script, "authorize-key", user, pub)
}

// SSHDConfig returns the sshd_config StartSSHD writes for opts.
func SSHDConfig(opts SSHDOptions) string {
	port := opts.Port
	if port == 0 {
		port = DefaultSSHPort
	}
	pw := "no"
	if opts.PasswordAuthentication {
		pw = "yes"
	}
	return fmt.Sprintf(`# sshd_config of a recd test host (tests/testhost)
Port %d
ListenAddress 127.0.0.1
HostKey %s/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication %s
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes yes
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_*
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp /usr/lib/openssh/sftp-server
%s
`, port, sshdKeyDir, pw, opts.Extra)
}

// StartSSHD starts OpenSSH's sshd inside the host (sshd -D -e, log in
// StateDir()/logs/sshd.log, printed when the test fails) and waits until it accepts
// connections.
func (h *Host) StartSSHD(opts SSHDOptions) *Daemon {
	h.t.Helper()
	if _, err := exec.LookPath("sshd"); err != nil {
		if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
			h.t.Skipf("integration test needs sshd (openssh-server; run make deps); skipping")
		}
	}
	if h.sshd != nil {
		h.t.Fatalf("testhost: sshd already started on %s", h.name)
	}
	if opts.Port == 0 {
		opts.Port = DefaultSSHPort
	}
	h.Shell(`install -d -m 0755 /run/sshd ` + sshdKeyDir + `
test -e ` + sshdKeyDir + `/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N "" -C "host@$(hostname)" -f ` + sshdKeyDir + `/ssh_host_ed25519_key`)
	h.WriteFile(sshdConfigPath, []byte(SSHDConfig(opts)), 0o644)
	if out, err := h.Run("/usr/sbin/sshd", "-t", "-f", sshdConfigPath); err != nil {
		h.t.Fatalf("testhost: sshd rejects its config: %v\n%s", err, out)
	}
	d := h.Start("sshd", "/usr/sbin/sshd", "-D", "-e", "-f", sshdConfigPath)
	deadline := time.Now().Add(15 * time.Second)
	for !h.listening(opts.Port) {
		if ok, err := d.Exited(); ok {
			h.t.Fatalf("testhost: sshd on %s exited (%v):\n%s", h.name, err, tail(d.Log(), 40))
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("testhost: sshd on %s not listening on port %d after 15s:\n%s", h.name, opts.Port, tail(d.Log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.sshd = d
	h.sshPort = opts.Port
	return d
}

// SSHDLog returns what sshd has logged so far ("" before StartSSHD).
func (h *Host) SSHDLog() string {
	if h.sshd == nil {
		return ""
	}
	return h.sshd.Log()
}

// listening reports whether a TCP socket listens on port in the host's network
// namespace, from /proc/PID/net/tcp (which shows the namespace of PID).
func (h *Host) listening(port int) bool {
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", h.pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			if i := strings.LastIndexByte(fields[1], ':'); i >= 0 {
				if p, err := strconv.ParseUint(fields[1][i+1:], 16, 16); err == nil && int(p) == port {
					return true
				}
			}
		}
	}
	return false
}

// SSHArgs returns the ssh client arguments (after "ssh") that log in as user to the
// host's sshd with the host's client key, non-interactively and without host key checks.
func (h *Host) SSHArgs(user string) []string {
	h.t.Helper()
	port := h.sshPort
	if port == 0 {
		port = DefaultSSHPort
	}
	return []string{"-F", "/dev/null", "-i", h.ClientKey(), "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
		"-p", strconv.Itoa(port), "-l", user, "127.0.0.1"}
}

// SSH runs command as user over ssh to the host's own sshd (the client runs inside the
// host too) and returns its stdout, stderr and exit status. err is set when ssh
// itself fails (exit status 255: connection or authentication) or the command times
// out; it then includes ssh's stderr and the tail of sshd's log.
func (h *Host) SSH(user, command string) (stdout, stderr string, exitCode int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	return h.SSHContext(ctx, user, command)
}

// SSHContext is SSH with a context.
func (h *Host) SSHContext(ctx context.Context, user, command string) (stdout, stderr string, exitCode int, err error) {
	h.t.Helper()
	if err := h.verify(); err != nil {
		return "", "", -1, err
	}
	args := append(h.SSHArgs(user), "--", command)
	cmd := h.CommandContext(ctx, "ssh", args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	runErr := cmd.Run()
	stdout, stderr = o.String(), e.String()
	exitCode = -1
	if cmd.ProcessState != nil {
		exitCode = cmd.ProcessState.ExitCode()
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("ssh %s@%s %q: %w", user, h.name, command, ctx.Err())
	case runErr != nil && !errors.As(runErr, &ee):
		err = fmt.Errorf("ssh %s@%s %q: %w", user, h.name, command, runErr)
	case exitCode == 255:
		err = fmt.Errorf("ssh %s@%s %q failed (exit 255)", user, h.name, command)
	}
	if err != nil {
		err = fmt.Errorf("%w\nssh stderr:\n%s\nsshd log (last lines):\n%s", err, stderr, tail(h.SSHDLog(), 20))
	}
	return stdout, stderr, exitCode, err
}
