package recorder

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/recd-dev/recd/internal/proto"
)

// The test binary doubles as a "shell" that reports how it was started.
func TestMain(m *testing.M) {
	if os.Getenv("RECD_TEST_HELPER") == "argv" {
		b, _ := json.Marshal(map[string]any{"argv": os.Args, "shell": os.Getenv("SHELL")})
		os.Stdout.Write(b)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testEnv(t *testing.T, shell string, extra ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "TERM=xterm-test", "LANG=C",
		"TLOG_REC_SESSION_SHELL=" + shell}, extra...)
}

func (f *fakeRecd) options(t *testing.T, env []string, args ...string) Options {
	return Options{
		Args: args, Env: env, SocketPath: f.path, UID: 1000,
		ConfigPath:   filepath.Join(t.TempDir(), "recd.conf"), // missing: defaults
		Signals:      make(chan os.Signal, 4),
		CloseTimeout: 5 * time.Second, KillDelay: 500 * time.Millisecond,
		Logf: t.Logf,
	}
}

// cmdRun is a command-mode run with pipes as the standard files.
type cmdRun struct {
	res            Result
	stdout, stderr []byte
}

// runPiped runs the recorder with stdin fed from input (nil: /dev/null, as ssh -n) and
// stdout/stderr collected; relayed counts the stdout bytes as they come.
func runPiped(t *testing.T, o Options, input []byte, relayed *atomic.Int64) cmdRun {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	var inR, inW *os.File
	if input == nil {
		inR, _ = os.Open(os.DevNull)
	} else {
		inR, inW, _ = os.Pipe()
		go func() {
			inW.Write(input)
			inW.Close()
		}()
	}
	o.Stdin, o.Stdout, o.Stderr = inR, outW, errW
	var r cmdRun
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for {
			n, err := outR.Read(buf)
			r.stdout = append(r.stdout, buf[:n]...)
			if relayed != nil {
				relayed.Add(int64(n))
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		r.stderr, _ = io.ReadAll(errR)
	}()
	r.res = Run(o)
	outW.Close()
	errW.Close()
	wg.Wait()
	inR.Close()
	outR.Close()
	errR.Close()
	return r
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 3000) // 6000 bytes
	c := clip(long)
	if len(c) > maxOpenField || !strings.HasSuffix(c, "…") || !utf8.ValidString(c) {
		t.Errorf("clip: %d bytes, valid %v", len(c), utf8.ValidString(c))
	}
	if clip("xterm") != "xterm" {
		t.Error("short strings are kept")
	}
}

// TestLongFields: a huge TERM or command is cut, not rejected (which would leave the
// session unrecorded).
func TestLongFields(t *testing.T) {
	f := newFakeRecd(t, defaultSettings())
	cmd := "echo ok #" + strings.Repeat("x", 9000)
	o := f.options(t, testEnv(t, "/bin/sh", "TERM="+strings.Repeat("t", 10000)), "recd-session", "-c", cmd)
	o.Exec = func(string, []string, []string) error { t.Error("started unrecorded"); return errHooked }
	r := runPiped(t, o, nil, nil)
	if r.res.Status != 0 || string(r.stdout) != "ok\n" || len(f.closed()) != 1 {
		t.Errorf("status %d stdout %q closes %v", r.res.Status, r.stdout, f.closed())
	}
	checkNoLeaks(t)
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    invocation
		argv    []string
		comment string
	}{
		{[]string{"-recd-session"}, invocation{login: true}, []string{"-bash"}, "login"},
		{[]string{"recd-session"}, invocation{}, []string{"/bin/bash"}, "plain"},
		{[]string{"recd-session", "-c", "ls -l"}, invocation{command: "ls -l", hasCmd: true}, []string{"/bin/bash", "-c", "ls -l"}, "sshd command"},
		{[]string{"-recd-session", "-c", "id"}, invocation{login: true, command: "id", hasCmd: true}, []string{"-bash", "-c", "id"}, "su - -c"},
		{[]string{"recd-session", "-i"}, invocation{}, []string{"/bin/bash", "-i"}, "interactive"},
		{[]string{"recd-session", "-l"}, invocation{login: true}, []string{"/bin/bash", "-l"}, "-l"},
		{[]string{"recd-session", "--login", "-c", "x", "a0", "a1"}, invocation{login: true, command: "x", hasCmd: true}, []string{"/bin/bash", "--login", "-c", "x", "a0", "a1"}, "--login"},
		{[]string{"recd-session", "-lc", "x"}, invocation{login: true, command: "x", hasCmd: true}, []string{"/bin/bash", "-lc", "x"}, "-lc"},
		{[]string{"recd-session", "-o", "posix", "-c", "x"}, invocation{command: "x", hasCmd: true}, []string{"/bin/bash", "-o", "posix", "-c", "x"}, "-o arg"},
		{[]string{"recd-session", "script.sh", "-c"}, invocation{}, []string{"/bin/bash", "script.sh", "-c"}, "script"},
		{nil, invocation{}, []string{"/bin/bash"}, "no argv"},
	} {
		if got := parseArgs(tc.args); got != tc.want {
			t.Errorf("%s: parseArgs(%q) = %+v, want %+v", tc.comment, tc.args, got, tc.want)
		}
		if got := shellArgv("/bin/bash", tc.args); strings.Join(got, "\x00") != strings.Join(tc.argv, "\x00") {
			t.Errorf("%s: shellArgv(%q) = %q, want %q", tc.comment, tc.args, got, tc.argv)
		}
	}
}

// TestArgvAndShell runs the real thing: the shell (this test binary) reports its argv
// and SHELL, and recd gets Login and Command.
func TestArgvAndShell(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(exe)
	for _, tc := range []struct {
		args  []string
		argv  []string
		login bool
		cmd   string
	}{
		{[]string{"-recd-session"}, []string{"-" + base}, true, ""},
		{[]string{"recd-session", "-c", "ls -l"}, []string{exe, "-c", "ls -l"}, false, "ls -l"},
		{[]string{"-recd-session", "-c", "id"}, []string{"-" + base, "-c", "id"}, true, "id"},
		{[]string{"recd-session", "-i"}, []string{exe, "-i"}, false, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeRecd(t, defaultSettings())
			o := f.options(t, testEnv(t, exe, "RECD_TEST_HELPER=argv", "SHELL=/usr/bin/recd-session"), tc.args...)
			r := runPiped(t, o, nil, nil)
			if r.res.Status != 0 {
				t.Fatalf("status %d, stderr %q", r.res.Status, r.stderr)
			}
			var got struct {
				Argv  []string
				Shell string
			}
			if err := json.Unmarshal(r.stdout, &got); err != nil {
				t.Fatalf("%v: %q", err, r.stdout)
			}
			if strings.Join(got.Argv, "\x00") != strings.Join(tc.argv, "\x00") {
				t.Errorf("argv %q, want %q", got.Argv, tc.argv)
			}
			if got.Shell != exe {
				t.Errorf("SHELL=%q, want %q", got.Shell, exe)
			}
			if len(r.stderr) != 0 {
				t.Errorf("stderr %q: a command session prints no notice", r.stderr)
			}
			f.mu.Lock()
			open := f.opens[0]
			f.mu.Unlock()
			if open.Mode != proto.ModeCommand || open.Login != tc.login || open.Command != tc.cmd || open.Shell != exe || open.Term != "xterm-test" {
				t.Errorf("open %+v", open)
			}
			checkNoLeaks(t)
		})
	}
}

func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tty    bool
		script string
		status int
		signal int
	}{
		{"command exit 7", false, "exit 7", 7, 0},
		{"command kill -TERM", false, "kill -TERM $$", 143, 15},
		{"command true", false, "true", 0, 0},
		{"tty exit 7", true, "exit 7", 7, 0},
		{"tty kill -TERM", true, "kill -TERM $$", 143, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRecd(t, defaultSettings())
			o := f.options(t, testEnv(t, "/bin/bash"), "recd-session", "-c", tc.script)
			var res Result
			if tc.tty {
				res = runTTY(t, o, nil).res
			} else {
				res = runPiped(t, o, nil, nil).res
			}
			if res.Status != tc.status || res.Signal != 0 {
				t.Errorf("result %+v, want status %d", res, tc.status)
			}
			cl := f.closed()
			if len(cl) != 1 || cl[0].ExitStatus != tc.status || cl[0].Signal != tc.signal || cl[0].Reason != "exit" {
				t.Errorf("closes %+v", cl)
			}
			checkNoLeaks(t)
		})
	}
}

func TestMissingShell(t *testing.T) {
	noexec := filepath.Join(t.TempDir(), "zsh")
	os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct{ shell, why string }{
		{"/nonexistent/zsh", "no such file"},
		{noexec, "not executable"},
		{"/tmp", "is a directory"},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			f := newFakeRecd(t, defaultSettings())
			o := f.options(t, testEnv(t, tc.shell), "-recd-session")
			start := time.Now()
			r := runPiped(t, o, nil, nil)
			if r.res.Status != 127 {
				t.Errorf("status %d, want 127", r.res.Status)
			}
			want := "recd-session: cannot start your shell " + tc.shell + ": " + tc.why + "; ask your administrator"
			if !strings.Contains(string(r.stderr), want) {
				t.Errorf("stderr %q, want %q", r.stderr, want)
			}
			cl := f.closed()
			if len(cl) != 1 || cl[0].Reason != "error" || !strings.Contains(cl[0].Error, tc.shell) || cl[0].ExitStatus != 127 {
				t.Errorf("closes %+v", cl)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			checkNoLeaks(t)
		})
	}
	t.Run("recd unreachable", func(t *testing.T) {
		f := newFakeRecd(t, defaultSettings())
		f.down()
		o := f.options(t, testEnv(t, "/nonexistent/zsh"), "-recd-session")
		o.OpenTimeout = 300 * time.Millisecond
		start := time.Now()
		r := runPiped(t, o, nil, nil)
		if r.res.Status != 127 || !strings.Contains(string(r.stderr), "cannot start your shell") {
			t.Errorf("status %d, stderr %q", r.res.Status, r.stderr)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a login with a missing shell and no recd took %v", d)
		}
		checkNoLeaks(t)
	})
}

// ttyRun is a run with a PTY as the user's terminal.
type ttyRun struct {
	res    Result
	output []byte // everything the terminal showed
}

// runTTY runs the recorder on a fresh PTY (the test holds the terminal side); drive, when
// set, types into it and reads what it shows through the given terminal.
func runTTY(t *testing.T, o Options, drive func(term *testTerm)) ttyRun {
	t.Helper()
	tm, ts, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	if err := setWinsize(ts, winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	orig, err := getTermios(ts)
	if err != nil {
		t.Fatal(err)
	}
	term := &testTerm{t: t, master: tm, slave: ts, got: make(chan struct{}, 1)}
	go term.read()
	o.Stdin, o.Stdout, o.Stderr = ts, ts, ts
	done := make(chan Result, 1)
	go func() { done <- Run(o) }()
	if drive != nil {
		drive(term)
	}
	var res Result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the session did not end; terminal shows %q", term.text())
	}
	after, err := getTermios(ts)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != orig.Lflag || after.Iflag != orig.Iflag || after.Oflag != orig.Oflag || after.Cc != orig.Cc {
		t.Errorf("terminal mode not restored: %+v, was %+v", after, orig)
	}
	ts.Close()
	<-term.done()
	return ttyRun{res: res, output: term.bytes()}
}

// testTerm is the terminal side of the user's PTY.
type testTerm struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	mu     sync.Mutex
	buf    []byte
	got    chan struct{}
	fin    chan struct{}
	once   sync.Once
}

func (tt *testTerm) done() chan struct{} {
	tt.once.Do(func() { tt.fin = make(chan struct{}) })
	return tt.fin
}

func (tt *testTerm) read() {
	defer close(tt.done())
	b := make([]byte, 32<<10)
	for {
		n, err := tt.master.Read(b)
		tt.mu.Lock()
		tt.buf = append(tt.buf, b[:n]...)
		tt.mu.Unlock()
		select {
		case tt.got <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (tt *testTerm) bytes() []byte {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return append([]byte(nil), tt.buf...)
}

func (tt *testTerm) text() string { return string(tt.bytes()) }

func (tt *testTerm) typ(s string) {
	if _, err := tt.master.Write([]byte(s)); err != nil {
		tt.t.Fatal(err)
	}
}

// waitFor waits until the terminal has shown s (after from bytes).
func (tt *testTerm) waitFor(s string) {
	tt.t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(tt.text(), s) {
		select {
		case <-tt.got:
		case <-deadline:
			tt.t.Fatalf("terminal never showed %q; it shows %q", s, tt.text())
		}
	}
}

func TestTTYSession(t *testing.T) {
	set := defaultSettings()
	set.LogInput = true
	set.Notice = "NOTICE-X"
	f := newFakeRecd(t, set)
	o := f.options(t, testEnv(t, "/bin/sh", "PS1=$ "), "recd-session")
	sigs := make(chan os.Signal, 1)
	o.Signals = sigs
	r := runTTY(t, o, func(tt *testTerm) {
		tt.waitFor("NOTICE-X\r\n$ ") // the prompt comes through the PTY: the terminal is raw
		tt.typ("echo hel''lo-$((1+2))\n")
		tt.waitFor("hello-3")
		if tio, _ := getTermios(tt.slave); tio.Lflag&syscall.ICANON != 0 || tio.Lflag&syscall.ECHO != 0 {
			t.Errorf("the user's terminal is not raw during the session")
		}
		// The terminal emulator resizes the window; the recorder gets SIGWINCH.
		setWinsize(tt.master, winsize{Rows: 40, Cols: 120})
		sigs <- syscall.SIGWINCH
		time.Sleep(50 * time.Millisecond)
		tt.typ("stty size\n")
		tt.waitFor("40 120")
		// A password prompt: echo off, canonical mode.
		tt.typ("stty -echo; echo RE''ADY; read pw; stty echo; echo got-${#pw}\n")
		tt.waitFor("READY")
		tt.typ("hunter2\n")
		tt.waitFor("got-7")
		tt.typ("echo af''ter\n")
		tt.waitFor("after\r\n")
		tt.typ("exit 7\n")
	})
	if r.res.Status != 7 {
		t.Errorf("status %d, want 7", r.res.Status)
	}
	rec := f.recording()
	if len(rec.events) == 0 || rec.events[0].Kind != proto.EventWindow || proto.WindowOf(rec.events[0].Data) != (proto.Window{Cols: 80, Rows: 24}) {
		t.Errorf("first event %+v, want the initial window 80x24", rec.events[:1])
	}
	if len(rec.windows) != 2 || rec.windows[1] != (proto.Window{Cols: 120, Rows: 40}) {
		t.Errorf("windows %+v", rec.windows)
	}
	shown := string(r.output)
	if !strings.HasPrefix(shown, "NOTICE-X\r\n") {
		t.Errorf("terminal shows %q, want the notice first", shown)
	}
	if got, want := string(rec.out), strings.TrimPrefix(shown, "NOTICE-X\r\n"); got != want {
		t.Errorf("recorded output differs from what the terminal showed:\n got %q\nwant %q", got, want)
	}
	if strings.Contains(string(rec.in), "hunter2") {
		t.Errorf("the password was recorded: input %q", rec.in)
	}
	if !strings.Contains(string(rec.in), "echo hel''lo-$((1+2))\n") || !strings.Contains(string(rec.in), "echo af''ter\n") {
		t.Errorf("input %q lacks what was typed with echo on", rec.in)
	}
	if rec.withheld != uint64(len("hunter2\n")) {
		t.Errorf("withheld %d bytes, want %d", rec.withheld, len("hunter2\n"))
	}
	f.mu.Lock()
	open := f.opens[0]
	f.mu.Unlock()
	if open.Mode != proto.ModeTTY || open.Window == nil || *open.Window != (proto.Window{Cols: 80, Rows: 24}) || !strings.HasPrefix(open.TTY, "/dev/pts/") {
		t.Errorf("open %+v", open)
	}
	cl := f.closed()
	if len(cl) != 1 || cl[0].ExitStatus != 7 || cl[0].Reason != "exit" || cl[0].BytesOut != uint64(len(rec.out)) || cl[0].BytesIn != uint64(len(rec.in))+rec.withheld {
		t.Errorf("closes %+v (recorded out %d in %d withheld %d)", cl, len(rec.out), len(rec.in), rec.withheld)
	}
	checkNoLeaks(t)
}

func TestTTYSignals(t *testing.T) {
	for _, tc := range []struct {
		sig    syscall.Signal
		reason string
	}{
		{syscall.SIGHUP, "hangup"},
		{syscall.SIGTERM, "recorder-signal"},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			f := newFakeRecd(t, defaultSettings())
			o := f.options(t, testEnv(t, "/bin/bash"), "recd-session", "--norc", "-i")
			sigs := make(chan os.Signal, 1)
			o.Signals = sigs
			r := runTTY(t, o, func(tt *testTerm) {
				tt.typ("echo sta''rted\n")
				tt.waitFor("started")
				sigs <- tc.sig
			})
			if r.res.Signal != tc.sig || r.res.Status != 128+int(syscall.SIGHUP) {
				t.Errorf("result %+v: want the recorder's signal %v and the shell killed by SIGHUP", r.res, tc.sig)
			}
			cl := f.closed()
			if len(cl) != 1 || cl[0].Reason != tc.reason || cl[0].Signal != int(syscall.SIGHUP) {
				t.Errorf("closes %+v", cl)
			}
			if rec := f.recording(); !strings.Contains(string(rec.out), "started") {
				t.Errorf("output %q", rec.out)
			}
			checkNoLeaks(t)
		})
	}
}

func TestCommandSignal(t *testing.T) {
	f := newFakeRecd(t, defaultSettings())
	o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "echo x; exec sleep 30")
	sigs := make(chan os.Signal, 1)
	o.Signals = sigs
	go func() {
		time.Sleep(300 * time.Millisecond)
		sigs <- syscall.SIGTERM
	}()
	r := runPiped(t, o, nil, nil)
	if r.res.Signal != syscall.SIGTERM || r.res.Status != 129 || string(r.stdout) != "x\n" {
		t.Errorf("result %+v stdout %q", r.res, r.stdout)
	}
	if cl := f.closed(); len(cl) != 1 || cl[0].Reason != "recorder-signal" || cl[0].BytesOut != 2 {
		t.Errorf("closes %+v", cl)
	}
	checkNoLeaks(t)
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func TestCommandBinary(t *testing.T) {
	data := make([]byte, 10<<20)
	rand.Read(data)
	for _, mode := range []string{"full", "metadata", "none"} {
		t.Run(mode, func(t *testing.T) {
			set := defaultSettings()
			set.RecordCommands = mode
			set.LogInput = true
			set.Buffer = 64 << 20 // full: everything fits even if the fake recd lags
			f := newFakeRecd(t, set)
			o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "tee /dev/stderr")
			r := runPiped(t, o, data, nil)
			if r.res.Status != 0 {
				t.Fatalf("status %d stderr %.200q", r.res.Status, r.stderr)
			}
			if sum(r.stdout) != sum(data) || sum(r.stderr) != sum(data) {
				t.Errorf("stdout %d bytes, stderr %d bytes, not identical to the %d input bytes", len(r.stdout), len(r.stderr), len(data))
			}
			cl := f.closed()
			if len(cl) != 1 {
				t.Fatalf("closes %+v", cl)
			}
			n := uint64(len(data))
			if mode == "none" {
				n = 0 // the shell has the recorder's own files; nothing is counted
			}
			if cl[0].BytesIn != n || cl[0].BytesOut != n || cl[0].BytesErr != n || cl[0].Lost != 0 {
				t.Errorf("close %+v, want %d bytes each way", cl[0], n)
			}
			rec := f.recording()
			switch mode {
			case "full":
				if sum(rec.out) != sum(data) || sum(rec.err) != sum(data) || sum(rec.in) != sum(data) {
					t.Errorf("recorded out %d err %d in %d bytes, not the data", len(rec.out), len(rec.err), len(rec.in))
				}
				if rec.lost != 0 || len(rec.windows) != 0 {
					t.Errorf("lost %d windows %v", rec.lost, rec.windows)
				}
			default:
				if len(rec.events) != 0 {
					t.Errorf("%d events recorded under record_commands = %s", len(rec.events), mode)
				}
			}
			checkNoLeaks(t)
		})
	}
}

// TestCommandNoInput is ssh -n host cmd: stdin at EOF from the start.
func TestCommandNoInput(t *testing.T) {
	set := defaultSettings()
	set.RecordCommands = "full"
	set.LogInput = true
	f := newFakeRecd(t, set)
	o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "echo A; sleep 0.2; echo B >&2; echo C")
	r := runPiped(t, o, nil, nil)
	if r.res.Status != 0 || string(r.stdout) != "A\nC\n" || string(r.stderr) != "B\n" {
		t.Errorf("status %d stdout %q stderr %q", r.res.Status, r.stdout, r.stderr)
	}
	rec := f.recording()
	if string(rec.out) != "A\nC\n" || string(rec.err) != "B\n" || len(rec.in) != 0 {
		t.Errorf("recorded out %q err %q in %q", rec.out, rec.err, rec.in)
	}
	checkNoLeaks(t)
}

// slowOutput writes n chunks of size bytes of random data, pausing between them.
func slowOutput(n, size int, pause string) string {
	return fmt.Sprintf("i=0; while [ $i -lt %d ]; do head -c %d /dev/urandom; sleep %s; i=$((i+1)); done", n, size, pause)
}

func TestReconnect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		partial bool
	}{
		{"partly written event", true},
		{"unacknowledged events", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := defaultSettings()
			set.RecordCommands = "full"
			f := newFakeRecd(t, set)
			cuts := 0
			var received int
			f.cut = func(f *fakeRecd, evs []proto.Event) (int, uint32, bool) {
				// Crash twice: after about 200 kB and after 600 kB of output.
				for i, e := range evs {
					received += len(e.Data)
					if (cuts == 0 && received > 200_000) || (cuts == 1 && received > 600_000) {
						if e.Kind != proto.EventOutput || len(e.Data) < 2 {
							continue
						}
						cuts++
						f.awayForLocked(300*time.Millisecond, nil)
						if tc.partial {
							return i + 1, uint32(len(e.Data) / 2), true
						}
						return i, 0, true
					}
				}
				return len(evs), 0, false
			}
			o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", slowOutput(40, 25000, "0.02"))
			r := runPiped(t, o, nil, nil)
			if r.res.Status != 0 || len(r.stdout) != 1_000_000 {
				t.Fatalf("status %d, %d bytes out", r.res.Status, len(r.stdout))
			}
			if cuts != 2 {
				t.Fatalf("the fake recd crashed %d times, want 2", cuts)
			}
			rec := f.recording()
			if !bytes.Equal(rec.out, r.stdout) {
				t.Errorf("recorded %d bytes, shell wrote %d; first difference at %d", len(rec.out), len(r.stdout), firstDiff(rec.out, r.stdout))
			}
			if rec.lost != 0 {
				t.Errorf("lost %d", rec.lost)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.opens) != 3 || f.opens[0].Resume != nil || f.opens[1].Resume == nil || f.opens[1].Resume.Rec != "rec-1" || f.opens[2].Resume == nil {
				t.Errorf("opens %+v", f.opens)
			}
			skips := 0
			for _, g := range f.grants[1:] {
				if g.ResumeSkip > 0 {
					skips++
				}
			}
			if tc.partial != (skips == 2) {
				t.Errorf("grants %+v", f.grants)
			}
			if len(f.closes) != 1 || f.closes[0].LastSeq != f.next-1 {
				t.Errorf("closes %+v, journal ends at %d", f.closes, f.next-1)
			}
		})
	}
	checkNoLeaks(t)
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestOverflow: recd goes away right after the grant; the shell writes 1 MB into a
// 64 KiB buffer. pass drops and counts; delay throttles the shell. The shell writes END
// well after recd is back (reconnection backs off up to 1 s).
func TestOverflow(t *testing.T) {
	for _, action := range []string{"pass", "delay"} {
		t.Run(action, func(t *testing.T) {
			set := defaultSettings()
			set.RecordCommands = "full"
			set.LimitAction = action
			set.Buffer = 64 << 10
			f := newFakeRecd(t, set)
			var relayed atomic.Int64
			var relayedWhileAway atomic.Int64
			first := true
			f.afterGrant = func(f *fakeRecd) bool {
				f.mu.Lock()
				defer f.mu.Unlock()
				if !first {
					return false
				}
				first = false
				f.awayForLocked(700*time.Millisecond, func() { relayedWhileAway.Store(relayed.Load()) })
				return true
			}
			o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "sleep 0.2; head -c 1000000 /dev/urandom; sleep 1.5; echo END")
			r := runPiped(t, o, nil, &relayed)
			total := len(r.stdout)
			if r.res.Status != 0 || total != 1_000_004 {
				t.Fatalf("status %d, %d bytes out", r.res.Status, total)
			}
			rec := f.recording()
			k := len(rec.out) - 4
			if k < 0 || !bytes.Equal(rec.out[:k], r.stdout[:k]) || string(rec.out[k:]) != "END\n" {
				var kinds []string
				for _, e := range rec.events {
					kinds = append(kinds, fmt.Sprintf("%d:%c:%d", e.Seq, e.Kind, len(e.Data)))
				}
				t.Fatalf("recorded output (%d bytes, first difference at %d) is not a prefix of the output and its end; events %v", len(rec.out), firstDiff(rec.out, r.stdout), kinds)
			}
			switch action {
			case "pass":
				if rec.lost == 0 || uint64(k)+rec.lost != 1_000_000 {
					t.Errorf("recorded %d + lost %d, want 1000000", k, rec.lost)
				}
				var lostAt, endAt int
				for i, e := range rec.events {
					if e.Kind == proto.EventLost {
						lostAt = i
					}
					if bytes.HasSuffix(e.Data, []byte("END\n")) {
						endAt = i
					}
				}
				if lostAt == 0 || lostAt > endAt {
					t.Errorf("the loss is not recorded before the output that followed it (lost at %d, END at %d)", lostAt, endAt)
				}
				if n := relayedWhileAway.Load(); n < 1_000_000 {
					t.Errorf("only %d bytes reached the user while recd was away: pass must not slow the terminal", n)
				}
			case "delay":
				if rec.lost != 0 || k != 1_000_000 {
					t.Errorf("recorded %d, lost %d: delay loses nothing", k, rec.lost)
				}
				if n := relayedWhileAway.Load(); n > 400_000 {
					t.Errorf("%d bytes relayed while recd was away: delay did not throttle", n)
				}
			}
			checkNoLeaks(t)
		})
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		on   string
		uid  int
		want bool
	}{
		{"allow", 1000, true},
		{"allow", 0, true},
		{"deny", 1000, false},
		{"deny", 0, true},
		{"", 1000, true},
	} {
		if got := mayStartUnrecorded(tc.on, tc.uid); got != tc.want {
			t.Errorf("mayStartUnrecorded(%q, %d) = %v", tc.on, tc.uid, got)
		}
	}

	t.Run("deny", func(t *testing.T) {
		for _, uid := range []int{1000, 0} {
			f := newFakeRecd(t, defaultSettings())
			f.down()
			o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "exit 3")
			os.WriteFile(o.ConfigPath, []byte("[recorder]\non_unavailable = deny\n"), 0o644)
			o.UID = uid
			o.CloseTimeout = 300 * time.Millisecond
			r := runPiped(t, o, nil, nil)
			if uid != 0 && (r.res.Status != 1 || !strings.Contains(string(r.stderr), "unavailable")) {
				t.Errorf("uid %d: status %d stderr %q", uid, r.res.Status, r.stderr)
			}
			if uid == 0 && r.res.Status != 3 {
				t.Errorf("root refused: status %d stderr %q", r.res.Status, r.stderr)
			}
		}
		checkNoLeaks(t)
	})

	t.Run("allow, recd comes later", func(t *testing.T) {
		set := defaultSettings()
		f := newFakeRecd(t, set)
		f.down()
		go func() {
			time.Sleep(400 * time.Millisecond)
			f.up()
		}()
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "echo one; sleep 0.8; echo two")
		os.WriteFile(o.ConfigPath, []byte("[recorder]\nrecord_commands = full\n"), 0o644)
		o.OpenTimeout = 200 * time.Millisecond
		r := runPiped(t, o, nil, nil)
		if r.res.Status != 0 || string(r.stdout) != "one\ntwo\n" {
			t.Fatalf("status %d stdout %q", r.res.Status, r.stdout)
		}
		rec := f.recording()
		if string(rec.out) != "one\ntwo\n" || rec.events[0].Seq != 1 {
			t.Errorf("recorded %q, events %+v", rec.out, rec.events)
		}
		f.mu.Lock()
		if len(f.opens) != 1 || f.opens[0].Resume != nil || len(f.closes) != 1 {
			t.Errorf("opens %+v closes %+v", f.opens, f.closes)
		}
		f.mu.Unlock()
		checkNoLeaks(t)
	})

	t.Run("allow, recd never comes", func(t *testing.T) {
		f := newFakeRecd(t, defaultSettings())
		f.down()
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "echo one; exit 4")
		o.OpenTimeout = 200 * time.Millisecond
		o.CloseTimeout = 500 * time.Millisecond
		start := time.Now()
		r := runPiped(t, o, nil, nil)
		if r.res.Status != 4 || string(r.stdout) != "one\n" {
			t.Errorf("status %d stdout %q", r.res.Status, r.stdout)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
		checkNoLeaks(t)
	})
}

func TestGrantNestedRefused(t *testing.T) {
	t.Run("nested", func(t *testing.T) {
		f := newFakeRecd(t, defaultSettings())
		f.grant.Nested, f.grant.Outer = true, "rec-outer"
		o := f.options(t, testEnv(t, "/bin/bash"), "-recd-session", "-c", "id")
		var calls [][]string
		o.Exec = func(path string, argv, env []string) error {
			calls = append(calls, []string{path, strings.Join(argv, " "), getenv(env, "SHELL")})
			return errHooked
		}
		r := runTTY(t, o, nil)
		if len(calls) != 1 || calls[0][0] != "/bin/bash" || calls[0][1] != "-bash -c id" || calls[0][2] != "/bin/bash" {
			t.Errorf("exec calls %q", calls)
		}
		if strings.Contains(string(r.output), "ATTENTION") {
			t.Errorf("a nested session printed the notice: %q", r.output)
		}
		if r.res.Status != 127 { // the hook "failed"
			t.Errorf("status %d", r.res.Status)
		}
		if len(f.closed()) != 0 || len(f.recording().events) != 0 {
			t.Errorf("a nested session was recorded")
		}
		checkNoLeaks(t)
	})
	t.Run("recd cannot record", func(t *testing.T) {
		f := newFakeRecd(t, defaultSettings())
		f.errorAnswer = "recd cannot record this session: the boot ID is unknown"
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "id")
		var calls []string
		o.Exec = func(path string, argv, env []string) error {
			calls = append(calls, path+" "+strings.Join(argv, " "))
			return errHooked
		}
		r := runPiped(t, o, nil, nil)
		if len(calls) != 1 || calls[0] != "/bin/sh /bin/sh -c id" || r.res.Status != 127 {
			t.Errorf("exec calls %q, status %d: the shell is started directly, unrecorded", calls, r.res.Status)
		}
		checkNoLeaks(t)
	})
	t.Run("recd cannot record, deny", func(t *testing.T) {
		f := newFakeRecd(t, defaultSettings())
		f.errorAnswer = "bad request: term of 5000 bytes"
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "id")
		os.WriteFile(o.ConfigPath, []byte("[recorder]\non_unavailable = deny\n"), 0o644)
		o.Exec = func(path string, argv, env []string) error {
			t.Errorf("the shell was started unrecorded under on_unavailable = deny")
			return errHooked
		}
		r := runPiped(t, o, nil, nil)
		if r.res.Status != 1 || !strings.Contains(string(r.stderr), "must be recorded") {
			t.Errorf("status %d stderr %q", r.res.Status, r.stderr)
		}
	})
	t.Run("refused", func(t *testing.T) {
		f := newFakeRecd(t, defaultSettings())
		f.grant.Refused = "recd-session: recording is required and cannot be made; try later"
		marker := filepath.Join(t.TempDir(), "ran")
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "touch "+marker)
		r := runPiped(t, o, nil, nil)
		if r.res.Status != 1 || string(r.stderr) != f.grant.Refused+"\n" {
			t.Errorf("status %d stderr %q", r.res.Status, r.stderr)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the shell ran")
		}
		checkNoLeaks(t)
	})
}

// TestLateRefusal: recd was away at the start, and refuses once back (Refused, or an
// error answer: it cannot record): the session goes on unrecorded instead of buffering
// (or throttling) forever, and the recorder stops asking.
func TestLateRefusal(t *testing.T) {
	for _, refuse := range []func(f *fakeRecd){
		func(f *fakeRecd) { f.grant.Refused = "no" },
		func(f *fakeRecd) {
			f.errorAnswer = "recd cannot record this session: the journal writer is not running"
		},
	} {
		f := newFakeRecd(t, defaultSettings())
		f.down()
		refuse(f)
		go func() {
			time.Sleep(300 * time.Millisecond)
			f.up()
		}()
		o := f.options(t, testEnv(t, "/bin/sh"), "recd-session", "-c", "sleep 0.6; head -c 300000 /dev/zero; sleep 1.5")
		os.WriteFile(o.ConfigPath, []byte("[recorder]\nrecord_commands = full\nlimit_action = delay\nbuffer = 64K\n"), 0o644)
		o.OpenTimeout = 200 * time.Millisecond
		r := runPiped(t, o, nil, nil)
		if r.res.Status != 0 || len(r.stdout) != 300000 {
			t.Errorf("status %d, %d bytes", r.res.Status, len(r.stdout))
		}
		f.mu.Lock()
		if len(f.opens) != 1 {
			t.Errorf("%d opens: the recorder kept asking", len(f.opens))
		}
		f.mu.Unlock()
		checkNoLeaks(t)
	}
}

// TestQueue covers the buffer's bookkeeping without processes.
func TestQueue(t *testing.T) {
	q := newQueue(1000, false, time.Now())
	q.addWindow(proto.Window{Cols: 1, Rows: 2})
	q.addData(proto.EventOutput, bytes.Repeat([]byte("a"), 100), true)
	q.addData(proto.EventOutput, bytes.Repeat([]byte("b"), 100), true)  // coalesced
	q.addData(proto.EventOutput, bytes.Repeat([]byte("c"), 2000), true) // dropped: no room
	q.addData(proto.EventOutput, []byte("e"), true)                     // dropped too: one gap, not a sieve
	batch, _ := q.take(nil, maxFramePayload, flushBytes, 0, true)
	if len(batch) != 2 || string(batch[1].Data) != strings.Repeat("a", 100)+strings.Repeat("b", 100) {
		t.Fatalf("batch %+v", batch)
	}
	if q.dropped() != 2001 {
		t.Errorf("dropped %d", q.dropped())
	}
	q.ack(3)
	q.addData(proto.EventOutput, []byte("d"), true)
	batch, _ = q.take(nil, maxFramePayload, flushBytes, 0, true)
	if len(batch) != 2 || batch[0].Kind != proto.EventLost || proto.CountOf(batch[0].Data) != 2001 || batch[0].Seq != 3 || string(batch[1].Data) != "d" {
		t.Fatalf("after room returned: %+v", batch)
	}
	// Resume from event 4, its first byte already written: nothing is left to send.
	q.resume(4, 1)
	if batch, _ = q.take(nil, maxFramePayload, flushBytes, 0, true); len(batch) != 1 || len(batch[0].Data) != 0 {
		t.Errorf("after resume %+v", batch)
	}
	q.ack(5)
	if q.held != 0 || len(q.evs) != 0 {
		t.Errorf("held %d, %d events", q.held, len(q.evs))
	}
	// A big read is split into events of at most MaxEventData.
	q2 := newQueue(1<<20, false, time.Now())
	q2.addData(proto.EventOutput, make([]byte, 3*proto.MaxEventData+5), true)
	batch, _ = q2.take(nil, maxFramePayload, flushBytes, 0, true)
	if len(batch) != 4 || len(batch[3].Data) != 5 {
		t.Errorf("%d events", len(batch))
	}
	for _, e := range batch {
		if len(e.Data) > proto.MaxEventData {
			t.Errorf("event of %d bytes", len(e.Data))
		}
	}
}
