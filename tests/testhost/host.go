package testhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// T is the part of testing.TB that a Host needs. *testing.T and *testing.B satisfy it,
// and so does Standalone, which lets a main program (tests/cmd/demo) use a Host.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// Tools that every Host needs on the machine; New skips the test if one is missing.
var requiredTools = []string{"unshare", "nsenter", "mount", "ip", "bash", "useradd", "groupadd", "getent"}

// Defaults.
const (
	// DefaultCommandTimeout bounds every command run inside a Host unless the caller
	// passes its own context.
	DefaultCommandTimeout = 60 * time.Second
	startTimeout          = 20 * time.Second
	keepEnv               = "RECD_TESTHOST_KEEP"
	// innerPath is PATH for commands inside the host.
	innerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// HostDir is a tmpfs directory inside every host reserved for the harness (client
	// keys, the identity token); tests may put scratch files there too.
	HostDir = "/run/testhost"
)

// Host is one isolated test host. Its methods that do not return an error fail the
// test that created it (through T.Fatalf), so call them from that test's goroutine.
type Host struct {
	t         T
	name      string // hostname
	machineID string
	state     string // state directory on the machine (overlay layers, logs, journal)
	token     string // written to HostDir/token inside; proves /proc/PID/root is ours
	timeout   time.Duration

	init    *exec.Cmd
	pid     int // PID of the namespace's init, as seen from outside
	initErr lockedBuffer

	mu      sync.Mutex
	closed  bool
	daemons []*Daemon

	sshd       *Daemon
	sshPort    int
	clientKey  string // private key path inside the host
	journaldUp bool
	journald   *Daemon // journald-holder, when StartJournald ran
}

// Option configures New.
type Option func(*hostConfig)

type hostConfig struct {
	hostname  string
	machineID string
	timeout   time.Duration
}

// WithHostname sets the host's hostname (default "testhost" plus a random suffix).
func WithHostname(name string) Option { return func(c *hostConfig) { c.hostname = name } }

// WithMachineID sets the host's /etc/machine-id (32 lower-case hex digits; default random).
func WithMachineID(id string) Option { return func(c *hostConfig) { c.machineID = id } }

// WithCommandTimeout sets the timeout of commands run without an explicit context
// (default DefaultCommandTimeout).
func WithCommandTimeout(d time.Duration) Option { return func(c *hostConfig) { c.timeout = d } }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Root of the init script. It runs as PID 1 of the new PID namespace, in new mount,
// network, UTS and IPC namespaces, and must not change anything outside them: the very
// first step makes every mount private so that nothing propagates back to the machine.
const initScript = `set -eu
mount --make-rprivate /
mount -t proc -o nosuid,nodev,noexec proc /proc
S="$TESTHOST_STATE"
for d in etc usr var root; do
  mkdir -p "$S/layers/$d.up" "$S/layers/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$S/layers/$d.up,workdir=$S/layers/$d.work" "/$d"
done
mkdir -p "$S/journal" /var/log/journal
mount --bind "$S/journal" /var/log/journal
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p "$TESTHOST_DIR"
# A checkout under /tmp or /home stays visible at its own path (for make install).
R="${TESTHOST_REPO:-}"
case "$R" in
  /tmp/*|/home/*) mkdir -p "$TESTHOST_DIR/src"; mount --bind "$R" "$TESTHOST_DIR/src";;
  *) R="";;
esac
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /home
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
if [ -n "$R" ]; then mkdir -p "$R"; mount --move "$TESTHOST_DIR/src" "$R"; rmdir "$TESTHOST_DIR/src"; fi
if [ -d /dev/shm ]; then mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm; fi
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
mount --bind /dev/pts/ptmx /dev/ptmx
mkdir -p /run/lock /run/user "$TESTHOST_DIR"
chmod 1777 /run/lock
# What systemd-tmpfiles creates at boot on a real host: libutempter (used by Debian's
# tlog-rec-session) fails without /run/utmp.
: > /run/utmp; chown root:utmp /run/utmp; chmod 0664 /run/utmp
printf '%s\n' "$TESTHOST_MACHINE_ID" > /etc/machine-id
printf '%s\n' "$TESTHOST_HOSTNAME" > /etc/hostname
hostname "$TESTHOST_HOSTNAME"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$TESTHOST_HOSTNAME" > /etc/hosts
ip link set lo up
printf '%s\n' "$TESTHOST_TOKEN" > "$TESTHOST_DIR/token"
echo ready
exec 1>/dev/null
# PID 1: reap orphans (bash reaps every child on SIGCHLD) and otherwise sleep.
while :; do sleep 3600 & wait $! || true; done
`

// New starts a test host and registers its teardown with t.Cleanup. It skips the test
// when not run as root or when a tool it needs is missing.
func New(t T, opts ...Option) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("integration test needs root (run make test as root); skipping")
	}
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("integration test needs %s (run make deps); skipping", tool)
		}
	}
	cfg := hostConfig{timeout: DefaultCommandTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.hostname == "" {
		cfg.hostname = "testhost-" + randomHex(3)
	}
	if cfg.machineID == "" {
		cfg.machineID = randomHex(16)
	}
	if len(cfg.machineID) != 32 || strings.Trim(cfg.machineID, "0123456789abcdef") != "" {
		t.Fatalf("testhost: machine id %q is not 32 lower-case hex digits", cfg.machineID)
	}

	// The state directory holds the overlay layers. It lives in the machine's /tmp,
	// which is not one of the overlaid directories (and is hidden inside the host by
	// its own tmpfs), so no layer overlaps another.
	base := os.Getenv("RECD_TESTHOST_DIR")
	if base == "" {
		base = "/tmp"
	}
	sweepStale(base)
	state, err := os.MkdirTemp(base, "recd-testhost-")
	if err != nil {
		t.Fatalf("testhost: state directory: %v", err)
	}
	h := &Host{
		t:         t,
		name:      cfg.hostname,
		machineID: cfg.machineID,
		state:     state,
		token:     randomHex(16),
		timeout:   cfg.timeout,
	}
	t.Cleanup(h.close)

	// The script runs from a file so that ps inside shows "bash …/init.sh", not the script.
	initPath := filepath.Join(state, "init.sh")
	if err := os.WriteFile(initPath, []byte(initScript), 0o644); err != nil {
		t.Fatalf("testhost: %v", err)
	}
	cmd := exec.Command("bash", initPath)
	cmd.Env = []string{
		"PATH=" + innerPath,
		"LANG=C.UTF-8",
		"TESTHOST_STATE=" + state,
		"TESTHOST_DIR=" + HostDir,
		"TESTHOST_HOSTNAME=" + cfg.hostname,
		"TESTHOST_MACHINE_ID=" + cfg.machineID,
		"TESTHOST_TOKEN=" + h.token,
	}
	if repo, err := RepoRoot(); err == nil {
		cmd.Env = append(cmd.Env, "TESTHOST_REPO="+repo)
	}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		// If the test binary dies without running cleanups (a panic, go test's
		// -timeout), the kernel kills the namespace's init and with it the host.
		Pdeathsig: syscall.SIGKILL,
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("testhost: %v", err)
	}
	cmd.Stderr = &h.initErr
	if err := cmd.Start(); err != nil {
		t.Fatalf("testhost: starting namespace init: %v", err)
	}
	h.init = cmd
	h.pid = cmd.Process.Pid
	_ = os.WriteFile(filepath.Join(state, "pid"), []byte(fmt.Sprintf("%d %s\n", h.pid, h.token)), 0o644)

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected line %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-ready:
	case <-time.After(startTimeout):
		err = fmt.Errorf("not ready after %v", startTimeout)
	}
	if err != nil {
		_ = h.init.Process.Kill()
		_ = h.init.Wait()
		h.init = nil
		t.Fatalf("testhost: namespace init failed: %v\ninit stderr:\n%s", err, h.initStderr())
	}
	if err := h.verify(); err != nil {
		t.Fatalf("testhost: %v", err)
	}
	t.Logf("testhost: %s up (pid %d, machine-id %s, state %s)", h.name, h.pid, h.machineID, h.state)
	return h
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (h *Host) initStderr() string { return h.initErr.String() }

// verify checks that h.pid is alive, in a mount namespace other than ours, and that its
// root holds our token. Every access through /proc/PID/root is guarded by it so that a
// dead or recycled PID can never make the harness write into the machine's own files.
func (h *Host) verify() error {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed || h.pid <= 1 {
		return errors.New("host is closed")
	}
	ours, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", h.pid))
	if err1 != nil || err2 != nil {
		return fmt.Errorf("host %s (pid %d) is gone: %v %v", h.name, h.pid, err1, err2)
	}
	if ours == theirs {
		return fmt.Errorf("pid %d shares our mount namespace; refusing to touch it", h.pid)
	}
	tok, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s/token", h.pid, HostDir))
	if err != nil || strings.TrimSpace(string(tok)) != h.token {
		return fmt.Errorf("pid %d is not host %s (token mismatch: %v)", h.pid, h.name, err)
	}
	return nil
}

// close tears the host down: SIGKILL to the namespace's init kills every process in
// its PID namespace, the mount namespace dies with them, and the state directory is
// removed unless RECD_TESTHOST_KEEP is set.
func (h *Host) close() {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return
	}
	if h.t.Failed() {
		h.dumpLogs()
	}
	h.mu.Lock()
	h.closed = true
	daemons := h.daemons
	h.mu.Unlock()
	if h.init != nil {
		_ = h.init.Process.Kill()
		done := make(chan struct{})
		go func() { _ = h.init.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			h.t.Logf("testhost: init pid %d did not exit 10s after SIGKILL", h.pid)
		}
	}
	for _, d := range daemons {
		d.waitExit(5 * time.Second)
	}
	if os.Getenv(keepEnv) != "" {
		_ = os.WriteFile(filepath.Join(h.state, "kept"), nil, 0o644)
		h.t.Logf("testhost: %s=1, keeping state directory %s", keepEnv, h.state)
		return
	}
	if err := os.RemoveAll(h.state); err != nil {
		h.t.Logf("testhost: removing %s: %v", h.state, err)
	}
}

func (h *Host) dumpLogs() {
	h.mu.Lock()
	daemons := append([]*Daemon(nil), h.daemons...)
	h.mu.Unlock()
	for _, d := range daemons {
		if log := strings.TrimSpace(d.Log()); log != "" {
			h.t.Logf("testhost: %s log on %s (last lines):\n%s", d.name, h.name, tail(log, 40))
		}
	}
	if h.journaldUp {
		if out, err := h.Run("journalctl", "--no-pager", "-n", "40", "-o", "short-precise"); err == nil {
			h.t.Logf("testhost: journal of %s (last lines):\n%s", h.name, out)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Hostname returns the host's hostname.
func (h *Host) Hostname() string { return h.name }

// MachineID returns the host's /etc/machine-id.
func (h *Host) MachineID() string { return h.machineID }

// PID returns the PID, as seen from outside, of the host's init (PID 1 inside).
func (h *Host) PID() int { return h.pid }

// StateDir returns the host's state directory on the machine: overlay layers
// (layers/etc.up …), daemon logs (logs/) and the persistent journal (journal/).
func (h *Host) StateDir() string { return h.state }

// Path maps an absolute path inside the host to a path usable from outside
// (/proc/PID/root/…). It fails the test if the host is not alive.
func (h *Host) Path(p string) string {
	h.t.Helper()
	if !filepath.IsAbs(p) {
		h.t.Fatalf("testhost: path %q is not absolute", p)
	}
	if err := h.verify(); err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	return fmt.Sprintf("/proc/%d/root%s", h.pid, filepath.Clean(p))
}

// Env returns the environment that commands inside the host get.
func (h *Host) env() []string {
	return []string{
		"PATH=" + innerPath,
		"HOME=/root",
		"USER=root",
		"LOGNAME=root",
		"LANG=C.UTF-8",
		"TERM=xterm-256color",
		"SYSTEMD_PAGER=",
		"SYSTEMD_COLORS=0",
	}
}

// Command returns a command that runs name with args inside the host as root, in the
// host's /root. It does not start it. Use CommandContext for a bounded run.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return h.CommandContext(context.Background(), name, args...)
}

// CommandContext is Command with a context that kills the command when done.
func (h *Host) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return h.commandIn(ctx, "/", name, args...)
}

func (h *Host) commandIn(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	argv := []string{"-t", strconv.Itoa(h.pid), "-m", "-n", "-p", "-u", "-i", "--wdns=" + dir, "--", name}
	cmd := exec.CommandContext(ctx, "nsenter", append(argv, args...)...)
	cmd.Env = h.env()
	cmd.Dir = "/"
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// RunContext runs a command inside the host and returns its combined output. The error
// says which command failed, how, and what it printed.
func (h *Host) RunContext(ctx context.Context, name string, args ...string) ([]byte, error) {
	if err := h.verify(); err != nil {
		return nil, err
	}
	cmd := h.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return out, fmt.Errorf("on %s: %s: %w\noutput:\n%s", h.name, quoteCmd(name, args), err, out)
	}
	return out, nil
}

// Run is RunContext bounded by the host's command timeout.
func (h *Host) Run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	return h.RunContext(ctx, name, args...)
}

// MustRun runs a command inside the host, fails t if it fails, and returns its
// combined output.
func (h *Host) MustRun(t T, name string, args ...string) string {
	t.Helper()
	out, err := h.Run(name, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return string(out)
}

// Shell runs a bash script inside the host as root and fails the test if it fails.
func (h *Host) Shell(script string) string {
	h.t.Helper()
	return h.MustRun(h.t, "bash", "-euc", script)
}

func quoteCmd(name string, args []string) string {
	parts := []string{name}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\;|&<>(){}*?") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// Daemon is a long-running process started inside a host with Start. Its stdout and
// stderr go to a log file in the host's state directory.
type Daemon struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// Start starts a long-running command inside the host. The process is killed with the
// host at the end of the test (or earlier with Stop); its output goes to
// StateDir()/logs/NAME.log, where NAME is a short label such as "sshd".
func (h *Host) Start(label string, name string, args ...string) *Daemon {
	h.t.Helper()
	if err := h.verify(); err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	logDir := filepath.Join(h.state, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	logPath := filepath.Join(logDir, label+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatalf("testhost: %v", err)
	}
	defer f.Close()
	cmd := h.Command(name, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("testhost: starting %s on %s: %v", quoteCmd(name, args), h.name, err)
	}
	d := &Daemon{name: label, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	h.mu.Lock()
	h.daemons = append(h.daemons, d)
	h.mu.Unlock()
	return d
}

// Log returns what the daemon has printed so far.
func (d *Daemon) Log() string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// Exited reports whether the daemon has exited, and how.
func (d *Daemon) Exited() (bool, error) {
	select {
	case <-d.done:
		return true, d.err
	default:
		return false, nil
	}
}

// Stop kills the daemon (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (d *Daemon) Stop() {
	if ok, _ := d.Exited(); ok {
		return
	}
	// nsenter forks the command into the host's PID namespace and waits for it; signal
	// that child (its PID as seen from here), not nsenter.
	d.Signal(syscall.SIGTERM)
	if !d.waitExit(5 * time.Second) {
		d.Signal(syscall.SIGKILL)
		d.waitExit(5 * time.Second)
	}
}

// Signal sends sig to the daemon's process inside the host.
func (d *Daemon) Signal(sig syscall.Signal) {
	if pid := nsenterChild(d.cmd.Process.Pid); pid > 0 {
		_ = syscall.Kill(pid, sig)
		return
	}
	_ = d.cmd.Process.Signal(sig)
}

// nsenterChild returns the PID (as seen from here) of the process nsenter forked, or 0.
func nsenterChild(nsenterPID int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", nsenterPID, nsenterPID))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

func (d *Daemon) waitExit(timeout time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// sweepStale removes state directories of hosts whose test binary died without its
// cleanups (go test -timeout, a crash): the kernel killed those hosts (Pdeathsig), but
// their directories stay. Directories kept with RECD_TESTHOST_KEEP are left alone.
func sweepStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "recd-testhost-*"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "kept")); err == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			// No pid file yet: maybe a host being created right now; only old ones go.
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > 10*time.Minute {
				_ = os.RemoveAll(d)
			}
			continue
		}
		var pid int
		var token string
		if _, err := fmt.Sscan(string(b), &pid, &token); err != nil || pid <= 1 {
			continue
		}
		tok, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s/token", pid, HostDir))
		if err == nil && strings.TrimSpace(string(tok)) == token {
			continue // alive
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // alive but not readable: leave it
		}
		_ = os.RemoveAll(d)
	}
}
