package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A configuration file or directory that a user other than root (or the reader) can
// change is refused, with the file named and the command that fixes it.
func TestHardeningUntrustedConfigRefused(t *testing.T) {
	type setup func(t *testing.T, main, dropins string)
	chmod := func(p string, m os.FileMode) {
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		setup   setup
		root    bool // needs root (chown)
		file    string
		wantMsg []string
	}{
		{"main group-writable", func(t *testing.T, main, _ string) { chmod(main, 0o664) }, false,
			"recd.conf", []string{"writable by its group (mode 0664)", "fix: chmod go-w "}},
		{"main world-writable", func(t *testing.T, main, _ string) { chmod(main, 0o646) }, false,
			"recd.conf", []string{"writable by others (mode 0646)", "chmod go-w"}},
		{"drop-in writable by all", func(t *testing.T, _, d string) { chmod(filepath.Join(d, "10-a.conf"), 0o666) }, false,
			"10-a.conf", []string{"writable by its group and others (mode 0666)", "chmod go-w"}},
		{"drop-in directory writable by others", func(t *testing.T, _, d string) { chmod(d, 0o777) }, false,
			"conf.d", []string{"the directory is writable by its group and others", "chmod go-w"}},
		{"main directory writable by others", func(t *testing.T, main, _ string) { chmod(filepath.Dir(main), 0o757) }, false,
			"", []string{"the directory is writable by others", "chmod go-w"}},
		{"drop-in owned by a user", func(t *testing.T, _, d string) { os.Chown(filepath.Join(d, "10-a.conf"), 65534, 65534) }, true,
			"10-a.conf", []string{"owned by uid 65534", "not root", "fix: chown root:root "}},
		{"main owned by a user and writable", func(t *testing.T, main, _ string) {
			os.Chown(main, 65534, 65534)
			chmod(main, 0o664)
		}, true, "recd.conf", []string{"owned by uid 65534", "and writable by its group", "chown root:root " + "", "&& chmod go-w"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to chown")
			}
			dir := t.TempDir()
			main := filepath.Join(dir, "recd.conf")
			dropins := filepath.Join(dir, "conf.d")
			os.WriteFile(main, []byte("[session_recording]\nscope = some\nusers = alice\n"), 0o644)
			os.Mkdir(dropins, 0o755)
			os.WriteFile(filepath.Join(dropins, "10-a.conf"), []byte("[session_recording]\nusers = bob\n"), 0o644)
			if _, err := Load(main, dropins); err != nil {
				t.Fatalf("before: %v", err)
			}
			tc.setup(t, main, dropins)
			_, err := Load(main, dropins)
			if err == nil {
				t.Fatal("accepted")
			}
			errs := Errors(err)
			if len(errs) != 1 {
				t.Fatalf("want one *Error, got %v", err)
			}
			if !strings.HasSuffix(errs[0].File, tc.file) {
				t.Errorf("error names %s, want …%s", errs[0].File, tc.file)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), errs[0].File) || !strings.Contains(errs[0].Hint, errs[0].File) {
				t.Errorf("the error or its fix does not name the file: %v", err)
			}
		})
	}
}

func TestHardeningTrustedConfigAccepted(t *testing.T) {
	dir := t.TempDir()
	// A sticky directory of a trusted owner (like /tmp) is fine; so is a symlink to a
	// trusted file, and a drop-in directory that does not exist.
	if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(dir, "real.conf")
	os.WriteFile(real, []byte("[session_recording]\nscope = all\n"), 0o640)
	main := filepath.Join(dir, "recd.conf")
	if err := os.Symlink(real, main); err != nil {
		t.Fatal(err)
	}
	c, err := Load(main, filepath.Join(dir, "conf.d"))
	if err != nil || c.Policy.Scope != ScopeAll {
		t.Fatalf("%+v %v", c, err)
	}
	// A FIFO in a drop-in's place is refused without hanging the reader.
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	fifo := filepath.Join(dir, "conf.d", "10-fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Load(main, filepath.Join(dir, "conf.d")); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("FIFO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Load hangs on a FIFO")
	}
}
