package confedit

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/recd-dev/recd/internal/config"
)

const sample = `# recd.conf — a comment that must survive
[recorder]
shell = /bin/bash

[session_recording]
# none, some or all
scope = none

# Comma-separated names.
# users =
# groups =
`

func setup(t *testing.T, text string) *Editor {
	t.Helper()
	dir := t.TempDir()
	e := &Editor{Path: filepath.Join(dir, "recd.conf"), DropinDir: filepath.Join(dir, "conf.d")}
	if text != "" {
		if err := os.WriteFile(e.Path, []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEdits(t *testing.T) {
	tests := []struct {
		name  string
		start string
		edits []Edit
		want  string
	}{
		{"set scope keeps comments", sample, []Edit{SetScope(config.ScopeSome)},
			strings.Replace(sample, "scope = none", "scope = some", 1)},
		{"insert after commented key", sample, []Edit{ListEdit(config.KeyUsers, Add, "alice", "bob")},
			strings.Replace(sample, "# users =\n", "# users =\nusers = alice, bob\n", 1)},
		{"insert after header", "[session_recording]\nscope = all\n", []Edit{ListEdit(config.KeyExcludeUsers, Set, "root")},
			"[session_recording]\nexclude_users = root\nscope = all\n"},
		{"create section", "[recorder]\nshell = /bin/sh\n", []Edit{SetScope(config.ScopeAll)},
			"[recorder]\nshell = /bin/sh\n\n[session_recording]\nscope = all\n"},
		{"create file", "", []Edit{SetScope(config.ScopeAll)}, "[session_recording]\nscope = all\n"},
		{"add dedups", "[session_recording]\nusers = a, b\n", []Edit{ListEdit(config.KeyUsers, Add, "b", "c", "c")},
			"[session_recording]\nusers = a, b, c\n"},
		{"remove", "[session_recording]\nusers = a, b, c\n", []Edit{ListEdit(config.KeyUsers, Remove, "b", "zz")},
			"[session_recording]\nusers = a, c\n"},
		{"remove all gives empty", "[session_recording]\nusers = a\n", []Edit{ListEdit(config.KeyUsers, Remove, "a")},
			"[session_recording]\nusers =\n"},
		{"last duplicate replaced", "[session_recording]\nusers = a\n[access]\n[session_recording]\nusers = b\n", []Edit{ListEdit(config.KeyUsers, Add, "c")},
			"[session_recording]\nusers = a\n[access]\n[session_recording]\nusers = b, c\n"},
		{"crlf kept", "[session_recording]\r\nscope = none\r\n", []Edit{SetScope(config.ScopeAll)}, "[session_recording]\r\nscope = all\r\n"},
		{"several edits", sample, []Edit{SetScope(config.ScopeSome), ListEdit(config.KeyGroups, Set, "wheel")},
			strings.Replace(strings.Replace(sample, "scope = none", "scope = some", 1), "# groups =\n", "# groups =\ngroups = wheel\n", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.start)
			res, err := e.Apply(tt.edits...)
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, e.Path); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if !res.Written {
				t.Error("not written")
			}
			if tt.start != "" {
				fi, _ := os.Stat(e.Path)
				if fi.Mode().Perm() != 0o640 {
					t.Errorf("mode %v", fi.Mode())
				}
			}
			entries, _ := os.ReadDir(filepath.Dir(e.Path))
			if len(entries) != 1 {
				t.Errorf("leftover files: %v", entries)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name  string
		start string
		dropi string
		edit  Edit
		want  string
	}{
		{"comma in name", sample, "", ListEdit(config.KeyUsers, Add, "a,b"), "comma"},
		{"newline injection", sample, "", ListEdit(config.KeyUsers, Add, "a\nscope = all"), "control character"},
		{"empty name", sample, "", ListEdit(config.KeyUsers, Add, ""), "empty name"},
		{"bad scope", sample, "", Edit{Key: "scope", Names: []string{"most"}}, "invalid scope"},
		{"invalid main file", sample + "bogus = 1\n", "", SetScope(config.ScopeAll), "fix it first"},
		{"invalid drop-in", sample, "[session_recording]\nscope = x\n", SetScope(config.ScopeAll), "would be invalid"},
		{"backtick name", sample, "", ListEdit(config.KeyUsers, Set, "`x"), "would be invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.start)
			if tt.dropi != "" {
				os.Mkdir(e.DropinDir, 0o755)
				os.WriteFile(filepath.Join(e.DropinDir, "10-x.conf"), []byte(tt.dropi), 0o644)
			}
			_, err := e.Apply(tt.edit)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if got := read(t, e.Path); got != tt.start {
				t.Errorf("file changed:\n%s", got)
			}
		})
	}
}

func TestDropinWarning(t *testing.T) {
	e := setup(t, sample)
	os.Mkdir(e.DropinDir, 0o755)
	os.WriteFile(filepath.Join(e.DropinDir, "10-ops.conf"), []byte("[session_recording]\n\nscope = all\n"), 0o644)
	res, err := e.Apply(SetScope(config.ScopeSome))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "10-ops.conf:3") {
		t.Errorf("warnings %q", res.Warnings)
	}
}

func TestPlanWritesNothing(t *testing.T) {
	e := setup(t, sample)
	res, err := e.Plan(SetScope(config.ScopeAll))
	if err != nil || res.Written || read(t, e.Path) != sample || !bytes.Contains(res.Text, []byte("scope = all")) {
		t.Fatalf("plan: %v %+v", err, res)
	}
}

func TestSymlinkRefused(t *testing.T) {
	e := setup(t, "")
	target := filepath.Join(t.TempDir(), "real.conf")
	os.WriteFile(target, []byte(sample), 0o644)
	os.Symlink(target, e.Path)
	if _, err := e.Apply(SetScope(config.ScopeAll)); err == nil {
		t.Fatal("edit through a symlink accepted")
	}
	if read(t, target) != sample {
		t.Error("target changed")
	}
}

func TestPlantedTempSymlink(t *testing.T) {
	// A file planted where the temporary file would go is never followed:
	// O_EXCL fails on it and another random name is used.
	e := setup(t, sample)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep"), 0o644)
	f, err := os.OpenFile(victim, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Plant symlinks at a few names; writeAtomic uses random names, so
	// check directly that creating over a symlink fails.
	planted := filepath.Join(filepath.Dir(e.Path), ".recd.conf.planted.tmp")
	os.Symlink(victim, planted)
	_, err = os.OpenFile(planted, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err == nil {
		t.Fatal("O_EXCL followed a symlink")
	}
	if _, err := e.Apply(SetScope(config.ScopeAll)); err != nil {
		t.Fatal(err)
	}
	if read(t, victim) != "keep" {
		t.Error("victim changed")
	}
}

func TestConcurrentEdits(t *testing.T) {
	e := setup(t, sample)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Apply(ListEdit(config.KeyUsers, Add, fmt.Sprintf("u%d", i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(e.Path, e.DropinDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policy.Users) != 20 {
		t.Errorf("users %v", c.Policy.Users)
	}
}

// TestHelperProcess is run as a child by the tests below.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("CONFEDIT_HELPER") != "1" {
		t.Skip("helper")
	}
	e := &Editor{Path: os.Getenv("CONFEDIT_PATH"), DropinDir: os.Getenv("CONFEDIT_PATH") + ".d"}
	_, err := e.Apply(ListEdit(config.KeyUsers, Add, os.Getenv("CONFEDIT_NAME")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func helper(t *testing.T, bin, path, name string, cred *syscall.Credential) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "CONFEDIT_HELPER=1", "CONFEDIT_PATH="+path, "CONFEDIT_NAME="+name)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	return cmd
}

func TestConcurrentProcesses(t *testing.T) {
	e := setup(t, sample)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for i := range 8 {
		cmd := helper(t, bin, e.Path, fmt.Sprintf("p%d", i), nil)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(e.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Policy.Users) != 8 {
		t.Errorf("users %v", c.Policy.Users)
	}
}

func TestUnwritableDirectory(t *testing.T) {
	e := setup(t, sample)
	dir := filepath.Dir(e.Path)
	if os.Getuid() != 0 {
		os.Chmod(dir, 0o555)
		defer os.Chmod(dir, 0o755)
		_, err := e.Apply(SetScope(config.ScopeAll))
		if err == nil || !strings.Contains(err.Error(), "cannot create a temporary file") {
			t.Fatalf("err = %v", err)
		}
	} else {
		// Root ignores permissions: run the edit as nobody.
		os.Chmod(e.Path, 0o644)
		for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		bindir := t.TempDir()
		os.Chmod(bindir, 0o755)
		bin := filepath.Join(bindir, "helper.test")
		self, _ := os.Executable()
		src, err := os.Open(self)
		if err != nil {
			t.Fatal(err)
		}
		dst, _ := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
		io.Copy(dst, src)
		src.Close()
		dst.Close()
		cmd := helper(t, bin, e.Path, "x", &syscall.Credential{Uid: 65534, Gid: 65534})
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "cannot create a temporary file") || !strings.Contains(string(out), "permission denied") {
			t.Fatalf("err = %v, output:\n%s", err, out)
		}
	}
	if read(t, e.Path) != sample {
		t.Error("file changed")
	}
}
