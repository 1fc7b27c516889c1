// Package recorder is recd-session: the program NSS hands out as a recorded user's login
// shell. It starts the user's real shell, relays the session's I/O (on a PTY when the
// login has a terminal, through pipes otherwise) and streams what it records to recd over
// the recording protocol of internal/proto.
//
// It runs as the user, never SUID, and trusts nothing of the user's environment but the
// name of the real shell (TLOG_REC_SESSION_SHELL, set by pam_recd): what is recorded
// comes from recd's grant, or from the root-owned recd.conf when recd is unreachable.
//
// The user's terminal never waits on recd: each chunk is relayed first and then copied
// into a bounded buffer that a separate goroutine sends, resending after reconnects what
// recd had not acknowledged (see queue and link).
package recorder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/proto"
)

// Options configure Run. Only Args, Env, the standard files, UID and SocketPath are
// needed; the rest has defaults.
type Options struct {
	// Args is the recorder's argv (argv[0] "-recd-session" for a login shell).
	Args []string
	// Env is the recorder's environment; the shell gets it with SHELL set.
	Env []string
	// Stdin, Stdout and Stderr are the login's standard files.
	Stdin, Stdout, Stderr *os.File
	// UID is the user's UID (0 is never refused).
	UID int
	// SocketPath is recd's socket (recd-session uses proto.SocketPath, always).
	SocketPath string
	// ConfigPath and DropinDir locate recd.conf, read for on_unavailable and the
	// settings when recd is unreachable (defaults when unreadable).
	ConfigPath, DropinDir string
	// Signals, when set, delivers the signals Run reacts to (SIGHUP, SIGINT, SIGTERM,
	// SIGWINCH) instead of Run subscribing to the process's own.
	Signals <-chan os.Signal
	// Exec replaces the process with the real shell for a nested session
	// (default syscall.Exec). It returns only on failure.
	Exec func(path string, argv, env []string) error
	// OpenTimeout bounds connecting to recd and its answer (default 2 s).
	OpenTimeout time.Duration
	// CloseTimeout bounds waiting for recd at the end while it makes no progress
	// (default 10 s); CloseMax bounds the whole wait (default 2 min).
	CloseTimeout, CloseMax time.Duration
	// RetryMax is the longest pause between reconnection attempts (default 1 s).
	RetryMax time.Duration
	// KillDelay is how long a shell is given to exit after SIGHUP when the recorder is
	// told to stop, before the terminal is hung up and then the shell killed (default 2 s).
	KillDelay time.Duration
	// Logf receives diagnostics (default: discarded; the user's terminal is not the place).
	Logf func(format string, args ...any)
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

func (o *Options) setDefaults() {
	if o.SocketPath == "" {
		o.SocketPath = proto.SocketPath
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 2 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 10 * time.Second
	}
	if o.CloseMax <= 0 {
		o.CloseMax = 2 * time.Minute
	}
	if o.RetryMax <= 0 || o.RetryMax > time.Second {
		o.RetryMax = time.Second
	}
	if o.KillDelay <= 0 {
		o.KillDelay = 2 * time.Second
	}
	if o.Exec == nil {
		o.Exec = syscall.Exec
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
}

// Result is how recd-session ends.
type Result struct {
	// Status is the exit status: the shell's (128+signal when it was killed), 1 when the
	// login was refused, 127 when the shell could not be started.
	Status int
	// Signal, when set, is the signal that stopped the recorder itself (SIGHUP, SIGINT,
	// SIGTERM): like tlog, the caller re-raises it after the recording was closed.
	Signal syscall.Signal
}

// Close reasons (proto.RecordClose.Reason).
const (
	reasonExit   = "exit"
	reasonHangup = "hangup"
	reasonSignal = "recorder-signal"
	reasonError  = "error"
)

// invocation is what the recorder's argv says.
type invocation struct {
	login   bool   // argv[0] starts with "-", or -l/--login
	command string // the -c argument
	hasCmd  bool
}

// parseArgs reads the shell options the recorder was given. They are all passed on to
// the real shell unchanged; this only finds out whether it is a login and the command.
func parseArgs(args []string) invocation {
	var inv invocation
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		inv.login = true
	}
	i := 1
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if a == "--login" {
			inv.login = true
			continue
		}
		if len(a) < 2 || (a[0] != '-' && a[0] != '+') || strings.HasPrefix(a, "--") {
			break
		}
		if a[0] == '-' {
			if strings.ContainsRune(a, 'c') {
				inv.hasCmd = true
			}
			if strings.ContainsRune(a, 'l') {
				inv.login = true
			}
		}
		if a == "-o" || a == "+o" || a == "-O" || a == "+O" {
			i++ // takes an argument
		}
	}
	if inv.hasCmd && i < len(args) {
		inv.command = args[i]
	}
	return inv
}

// shellArgv is the real shell's argv, as tlog builds it: argv[0] "-" + basename for a
// login, else the shell's full path; the recorder's arguments follow unchanged.
func shellArgv(shell string, args []string) []string {
	argv0 := shell
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		argv0 = "-" + filepath.Base(shell)
	}
	argv := []string{argv0}
	if len(args) > 1 {
		argv = append(argv, args[1:]...)
	}
	return argv
}

func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func setenv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// maxOpenField is the longest string recd accepts in a RecordOpen (recd/daemon).
const maxOpenField = 4096

// clip cuts s to maxOpenField bytes, at a character boundary, marking the cut with "…".
func clip(s string) string {
	if len(s) <= maxOpenField {
		return s
	}
	n := maxOpenField - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// mayStartUnrecorded decides a login when recd is unreachable: on_unavailable = deny
// refuses everyone but root; allow (and anything else) lets the session start, buffered.
func mayStartUnrecorded(onUnavailable string, uid int) bool {
	return uid == 0 || onUnavailable != string(config.UnavailableDeny)
}

// settingsFrom converts recd.conf's [recorder] section to the grant's settings.
func settingsFrom(r config.Recorder) proto.RecorderSettings {
	return proto.RecorderSettings{
		Notice: r.Notice, Shell: r.Shell,
		LogInput: r.LogInput, LogOutput: r.LogOutput, LogWindow: r.LogWindow,
		LimitAction: string(r.LimitAction), Buffer: r.Buffer,
		OnUnavailable: string(r.OnUnavailable), RecordCommands: string(r.RecordCommands),
		LatencyMillis: int64(r.Latency) * 1000,
	}
}

// localConfig reads recd.conf (read-only), falling back to the defaults.
func (o *Options) localConfig() config.Recorder {
	if o.ConfigPath != "" {
		c, err := config.Load(o.ConfigPath, o.DropinDir)
		if err == nil {
			return c.Recorder
		}
		o.logf("recd-session: reading %s: %v (using defaults)", o.ConfigPath, err)
	}
	return config.Default().Recorder
}

// checkShell says why shell cannot be started, or "".
func checkShell(shell string) string {
	if !filepath.IsAbs(shell) {
		return "not an absolute path"
	}
	st, err := os.Stat(shell)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case err != nil:
		return err.Error()
	case st.IsDir():
		return "is a directory"
	case !st.Mode().IsRegular():
		return "not a regular file"
	}
	if err := syscall.Access(shell, 1 /* X_OK */); err != nil {
		return "not executable"
	}
	return ""
}

func shellMessage(shell, why string) string {
	return fmt.Sprintf("recd-session: cannot start your shell %s: %s; ask your administrator to install it or to change your login shell\n", shell, why)
}

// Run runs one recorded session and returns how the process should end.
func Run(o Options) Result {
	o.setDefaults()
	start := time.Now()

	sigs := o.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 8)
		// SIGPIPE is caught so that a write to a closed stdout/stderr is an error, not
		// death before the recording is closed; caught signals revert to their default
		// in the shell, so it gets the usual dispositions.
		signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGWINCH, syscall.SIGPIPE)
		defer signal.Stop(ch)
		sigs = ch
	}

	term := findTerminal(o.Stdin, o.Stdout, o.Stderr)
	inv := parseArgs(o.Args)
	envShell := getenv(o.Env, "TLOG_REC_SESSION_SHELL")
	var local *config.Recorder
	conf := func() config.Recorder {
		if local == nil {
			r := o.localConfig()
			local = &r
		}
		return *local
	}
	shell := envShell
	if shell == "" {
		shell = conf().Shell
	}

	// The strings are cut to what recd accepts: an over-long TERM (the user's ssh client
	// sets it) or command must not turn into a rejected, hence unrecorded, session.
	open := proto.RecordOpen{
		Mode:           proto.ModeCommand,
		Term:           clip(getenv(o.Env, "TERM")),
		Shell:          clip(shell),
		Command:        clip(inv.command),
		Login:          inv.login,
		StartUnixMicro: start.UnixMicro(),
	}
	if term != nil {
		open.Mode = proto.ModeTTY
		open.TTY = clip(term.name)
		w := term.win.window()
		open.Window = &w
	}

	conn, grant, err := dialOpen(o.SocketPath, o.OpenTimeout, open)
	var set proto.RecorderSettings
	var answer *refusal
	switch {
	case errors.As(err, &answer):
		// recd is there but cannot record this session and does not refuse it (it sends
		// Refused for on_unavailable = deny): the session runs unrecorded, as the shell.
		// recd.conf is asked too, so that no error answer opens a way around deny.
		o.logf("recd-session: %v", err)
		if !mayStartUnrecorded(string(conf().OnUnavailable), o.UID) {
			fmt.Fprintf(o.Stderr, "recd-session: this session must be recorded, and recording is not possible now (%s); try again later or ask your administrator\n", answer.msg)
			return Result{Status: 1}
		}
		return o.execShell(shell, envShell, proto.RecorderSettings{})
	case err != nil:
		o.logf("recd-session: recd unavailable: %v", err)
		c := conf()
		if !mayStartUnrecorded(string(c.OnUnavailable), o.UID) {
			fmt.Fprintf(o.Stderr, "recd-session: the session recording service is unavailable, and this host allows no unrecorded sessions; try again later or ask your administrator\n")
			return Result{Status: 1}
		}
		set = settingsFrom(c)
	case grant.Refused != "":
		fmt.Fprintf(o.Stderr, "%s\n", strings.TrimRight(grant.Refused, "\n"))
		return Result{Status: 1}
	case grant.Nested:
		return o.execShell(shell, envShell, grant.Settings)
	default:
		set = grant.Settings
		if set == (proto.RecorderSettings{}) {
			set = settingsFrom(conf())
		}
		if envShell == "" && set.Shell != "" {
			shell = set.Shell
		}
	}
	if set.Buffer <= 0 {
		set.Buffer = 8 << 20
	}
	latency := maxFlushDelay
	if set.LatencyMillis > 0 && time.Duration(set.LatencyMillis)*time.Millisecond < latency {
		latency = time.Duration(set.LatencyMillis) * time.Millisecond
	}

	q := newQueue(set.Buffer, set.LimitAction == string(config.LimitDelay), start)
	l := newLink(&o, q, open, grant.Rec, latency)
	go l.run(conn)

	s := &session{o: &o, q: q, set: set, sigs: sigs, term: term}
	var out outcome
	if why := checkShell(shell); why != "" {
		out = outcome{startErr: why}
	} else {
		argv := shellArgv(shell, o.Args)
		env := setenv(o.Env, "SHELL", shell)
		if term != nil {
			if set.Notice != "" {
				fmt.Fprintf(o.Stderr, "%s\n", set.Notice)
			}
			out = s.runTTY(shell, argv, env)
		} else {
			out = s.runCommand(shell, argv, env)
		}
	}

	cl := &proto.RecordClose{
		ExitStatus: out.status, Signal: int(out.signal), Reason: reasonExit,
		BytesIn: out.bytesIn, BytesOut: out.bytesOut, BytesErr: out.bytesErr,
	}
	res := Result{Status: out.status}
	switch {
	case out.startErr != "":
		fmt.Fprint(o.Stderr, shellMessage(shell, out.startErr))
		cl.Reason, cl.Error, cl.ExitStatus = reasonError, fmt.Sprintf("cannot start shell %s: %s", shell, out.startErr), 127
		res.Status = 127
	case out.recorderSignal == syscall.SIGHUP || out.hangup:
		cl.Reason = reasonHangup
	case out.recorderSignal != 0:
		cl.Reason = reasonSignal
	}
	res.Signal = out.recorderSignal
	idle := o.CloseTimeout
	if out.startErr != "" || !l.opened.Load() {
		// The user waits for the logout: a login whose shell did not start, or a session
		// recd never opened (on_unavailable = allow, recd away all along), gives recd only
		// the time of a connection attempt to come back.
		idle = min(idle, o.OpenTimeout)
	}
	if !l.finish(cl, idle, o.CloseMax) {
		o.logf("recd-session: recd did not confirm the end of the recording")
	}
	return res
}

// execShell replaces the recorder with the real shell: for a nested session, which the
// outer recorder already records (it holds this shell's I/O), or one recd cannot record.
func (o *Options) execShell(shell, envShell string, set proto.RecorderSettings) Result {
	if envShell == "" && set.Shell != "" {
		shell = set.Shell
	}
	if why := checkShell(shell); why != "" {
		fmt.Fprint(o.Stderr, shellMessage(shell, why))
		return Result{Status: 127}
	}
	err := o.Exec(shell, shellArgv(shell, o.Args), setenv(o.Env, "SHELL", shell))
	fmt.Fprint(o.Stderr, shellMessage(shell, err.Error()))
	return Result{Status: 127}
}

// outcome is how a session ended.
type outcome struct {
	status         int
	signal         syscall.Signal // the signal that killed the shell
	recorderSignal syscall.Signal // the signal that stopped the recorder
	hangup         bool           // the user's terminal went away
	startErr       string         // the shell could not be started
	bytesIn        uint64
	bytesOut       uint64
	bytesErr       uint64
}

func (out *outcome) setState(ps *os.ProcessState) {
	if ps == nil {
		out.status = 1
		return
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		out.signal = ws.Signal()
		out.status = 128 + int(ws.Signal())
		return
	}
	out.status = ws.ExitStatus()
}

// writeAll writes b to w (os.File.Write already loops over short writes).
func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}
