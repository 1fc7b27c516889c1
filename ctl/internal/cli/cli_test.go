package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recd-dev/recd/internal/config"
	"github.com/recd-dev/recd/internal/policy"
)

type env struct {
	app            *App
	stdout, stderr *bytes.Buffer
	dir            string
}

func newEnv(t *testing.T, conf string) *env {
	t.Helper()
	dir := t.TempDir()
	w := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("passwd", "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/h:/bin/sh\nbob:x:1001:1001::/h:/bin/sh\ncarol:x:1002:10::/h:/bin/sh\n")
	w("group", "root:x:0:\nalice:x:1000:\nbob:x:1001:\nwheel:x:10:bob\n")
	if conf != "" {
		w("recd.conf", conf)
	}
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	e := &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, dir: dir}
	e.app = &App{
		Stdout: e.stdout, Stderr: e.stderr, UID: 0,
		Directory:  &policy.FilesDirectory{PasswdPath: filepath.Join(dir, "passwd"), GroupPath: filepath.Join(dir, "group")},
		ConfigPath: filepath.Join(dir, "recd.conf"), DropinDir: filepath.Join(dir, "conf.d"),
		SSSDPath: filepath.Join(dir, "sssd.conf"), SSSDDropinDir: filepath.Join(dir, "sssd.conf.d"),
	}
	return e
}

func (e *env) run(args ...string) int {
	e.stdout.Reset()
	e.stderr.Reset()
	return e.app.Run(args)
}

func TestCheck(t *testing.T) {
	conf := "[session_recording]\nscope = some\nusers = alice\ngroups = wheel\n"
	tests := []struct {
		args   []string
		code   int
		out    string
		errOut string
	}{
		{[]string{"check", "alice"}, 0, "alice: recorded — scope=some; listed in users (", ""},
		{[]string{"check", "carol"}, 0, "carol: recorded — scope=some; member of group wheel (primary group)", ""},
		{[]string{"check", "bob"}, 0, "bob: recorded — scope=some; member of group wheel (listed member)", ""},
		{[]string{"check", "alice", "root"}, 1, "root: not recorded — scope=some; not in users or groups", ""},
		{[]string{"check", "zed", "alice"}, 2, "alice: recorded", `recctl: check: no such user "zed"`},
		{[]string{"check"}, 2, "", "name at least one user"},
	}
	e := newEnv(t, conf)
	for _, tt := range tests {
		code := e.run(tt.args...)
		if code != tt.code || !strings.Contains(e.stdout.String(), tt.out) || !strings.Contains(e.stderr.String(), tt.errOut) {
			t.Errorf("%v: code %d\nstdout: %s\nstderr: %s", tt.args, code, e.stdout, e.stderr)
		}
	}
}

func TestCheckAgreesWithEngine(t *testing.T) {
	for _, conf := range []string{
		"", "[session_recording]\nscope=all\nexclude_groups=wheel\n", "[session_recording]\nscope=some\ngroups=alice,root\n",
		"[session_recording]\nscope=all\nexclude_users=alice, root\n",
	} {
		e := newEnv(t, conf)
		c, err := config.Load(e.app.ConfigPath, e.app.DropinDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"root", "alice", "bob", "carol"} {
			d, err := policy.Decide(&c.Policy, e.app.Directory, u)
			if err != nil {
				t.Fatal(err)
			}
			code := e.run("check", u)
			want := 0
			if !d.Record {
				want = 1
			}
			if code != want || !strings.Contains(e.stdout.String(), d.Reason) {
				t.Errorf("%q %s: code %d, out %s, engine %+v", conf, u, code, e.stdout, d)
			}
		}
	}
}

func TestNotRoot(t *testing.T) {
	e := newEnv(t, "")
	e.app.UID = 1000
	for _, args := range [][]string{{"policy"}, {"check", "alice"}, {"scope", "all"}, {"users", "add", "x"}, {"import-sssd"}} {
		if code := e.run(args...); code != ExitNotRoot || e.stderr.String() != "recctl: must be run as root (you are uid 1000)\n" {
			t.Errorf("%v: %d %q", args, code, e.stderr)
		}
	}
	if _, err := os.Stat(e.app.ConfigPath); err == nil {
		t.Error("config written by non-root")
	}
}

func TestUsage(t *testing.T) {
	e := newEnv(t, "")
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2}, {[]string{"--help"}, 0}, {[]string{"bogus"}, 2}, {[]string{"check", "--help"}, 0},
		{[]string{"users", "--help"}, 0}, {[]string{"users"}, 2}, {[]string{"users", "frob", "x"}, 2},
		{[]string{"users", "add"}, 2}, {[]string{"scope"}, 2}, {[]string{"scope", "most"}, 2}, {[]string{"policy", "x"}, 2},
		{[]string{"--nope", "policy"}, 2}, {[]string{"help", "scope"}, 0},
	}
	for _, tt := range tests {
		if code := e.run(tt.args...); code != tt.code {
			t.Errorf("%v: code %d, want %d; %s", tt.args, code, tt.code, e.stderr)
		}
	}
	e.run("scope", "--help")
	if !strings.Contains(e.stdout.String(), "Example") {
		t.Errorf("scope help: %s", e.stdout)
	}
}

func TestEditCommands(t *testing.T) {
	e := newEnv(t, "# keep me\n[session_recording]\nscope = none\n")
	steps := []struct {
		args   []string
		out    string
		errOut string
	}{
		{[]string{"scope", "SOME"}, "scope: none → some", ""},
		{[]string{"users", "add", "alice", "ghost"}, "users: (not set) → alice, ghost", `no user "ghost" exists`},
		{[]string{"groups", "set", "wheel"}, "groups: (not set) → wheel", ""},
		{[]string{"users", "remove", "ghost"}, "users: alice, ghost → alice", ""},
		{[]string{"exclude-users", "add", "bob"}, "exclude_users: (not set) → bob", ""},
		{[]string{"exclude-groups", "add", "nogroup"}, "recctl reload", `no group "nogroup"`},
	}
	for _, s := range steps {
		if code := e.run(s.args...); code != 0 || !strings.Contains(e.stdout.String(), s.out) || !strings.Contains(e.stderr.String(), s.errOut) {
			t.Fatalf("%v: %d\n%s\n%s", s.args, code, e.stdout, e.stderr)
		}
	}
	got, _ := os.ReadFile(e.app.ConfigPath)
	want := "# keep me\n[session_recording]\nexclude_groups = nogroup\nexclude_users = bob\ngroups = wheel\nusers = alice\nscope = some\n"
	if string(got) != want {
		t.Errorf("file:\n%s", got)
	}
	if code := e.run("check", "carol"); code != 0 {
		t.Errorf("carol not recorded: %s", e.stdout)
	}
	if code := e.run("policy"); code != 0 || !strings.Contains(e.stdout.String(), "exclude_users = bob (ignored: only used with scope=all)") {
		t.Errorf("policy: %s", e.stdout)
	}
	if code := e.run("users", "add", "a,b"); code != 2 {
		t.Errorf("comma accepted")
	}
	if string(mustRead(t, e.app.ConfigPath)) != want {
		t.Error("file changed by refused edit")
	}
}

func TestBrokenConfig(t *testing.T) {
	e := newEnv(t, "[session_recording]\nexclude_user = bob\n")
	if code := e.run("policy"); code != 2 || !strings.Contains(e.stderr.String(), "recd.conf:2: [session_recording] exclude_user: unknown key (did you mean exclude_users?)") {
		t.Errorf("%d %s", code, e.stderr)
	}
	if code := e.run("check", "alice"); code != 2 {
		t.Errorf("check on broken config: %d", code)
	}
}

func TestImportSSSD(t *testing.T) {
	e := newEnv(t, "[session_recording]\nscope = all\nexclude_users = root\n")
	sssd := filepath.Join(e.dir, "sssd.conf")
	os.WriteFile(sssd, []byte("[sssd]\nservices=nss\n\n[session_recording]\nscope=some\nusers=alice\n"), 0o600)
	if code := e.run("import-sssd", "--dry-run"); code != 0 || !strings.Contains(e.stdout.String(), "scope = some") ||
		!strings.Contains(e.stdout.String(), "(from "+sssd+":5)") {
		t.Fatalf("dry run: %s %s", e.stdout, e.stderr)
	}
	if got := string(mustRead(t, e.app.ConfigPath)); !strings.Contains(got, "scope = all") {
		t.Fatal("dry run wrote")
	}
	if code := e.run("import-sssd", sssd); code != 0 {
		t.Fatalf("import: %s", e.stderr)
	}
	c, err := config.Load(e.app.ConfigPath, e.app.DropinDir)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy
	if p.Scope != config.ScopeSome || strings.Join(p.Users, ",") != "alice" || len(p.ExcludeUsers) != 0 || len(p.Groups) != 0 {
		t.Errorf("policy %+v", p)
	}
	if code := e.run("import-sssd", filepath.Join(e.dir, "missing.conf")); code != 2 {
		t.Errorf("missing file: %d", code)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
