// Package journaltest makes real journal files for tests: it writes entries in the journal
// export format and imports them with systemd-journal-remote, so that tests read them
// back through the real journalctl. Trusted fields (_UID, _COMM, …) are kept as given, as
// they are for a journal uploaded from another host.
package journaltest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Field is one field of an entry.
type Field struct {
	Name  string
	Value []byte
}

// F returns a text field.
func F(name, value string) Field { return Field{Name: name, Value: []byte(value)} }

// Entry is an entry in the order its fields are written.
type Entry []Field

// Get returns the first value of name.
func (e Entry) Get(name string) string {
	for _, f := range e {
		if f.Name == name {
			return string(f.Value)
		}
	}
	return ""
}

// Set replaces the first value of name, or appends the field.
func (e Entry) Set(name string, value []byte) Entry {
	for i, f := range e {
		if f.Name == name {
			e[i].Value = value
			return e
		}
	}
	return append(e, Field{Name: name, Value: value})
}

// Export serializes entries in the journal export format. Each entry gets
// __REALTIME_TIMESTAMP (start + i ms, unless it has one), __MONOTONIC_TIMESTAMP and
// _BOOT_ID when missing. Values with a newline or a non-printable byte use the binary form.
func Export(start time.Time, entries []Entry) []byte {
	var b bytes.Buffer
	for i, e := range entries {
		e = append(Entry(nil), e...)
		if e.Get("__REALTIME_TIMESTAMP") == "" {
			e = append(Entry{F("__REALTIME_TIMESTAMP", strconv.FormatInt(start.Add(time.Duration(i)*time.Millisecond).UnixMicro(), 10))}, e...)
		}
		if e.Get("__MONOTONIC_TIMESTAMP") == "" {
			e = append(e, F("__MONOTONIC_TIMESTAMP", strconv.Itoa(1000000+i*1000)))
		}
		if e.Get("_BOOT_ID") == "" {
			e = append(e, F("_BOOT_ID", "0123456789abcdef0123456789abcdef"))
		}
		for _, f := range e {
			if needsBinary(f.Value) {
				b.WriteString(f.Name + "\n")
				_ = binary.Write(&b, binary.LittleEndian, uint64(len(f.Value)))
				b.Write(f.Value)
				b.WriteByte('\n')
			} else {
				fmt.Fprintf(&b, "%s=%s\n", f.Name, f.Value)
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func needsBinary(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// RemotePath is where Debian installs systemd-journal-remote.
func RemotePath() string {
	for _, p := range []string{"/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("systemd-journal-remote"); err == nil {
		return p
	}
	return ""
}

// Import writes the export-format data into the journal file dir/name (name must end in
// ".journal") with systemd-journal-remote and returns its path. The test is skipped when
// systemd-journal-remote is not installed (make deps installs it).
func Import(t testing.TB, dir, name string, export []byte) string {
	t.Helper()
	remote := RemotePath()
	if remote == "" {
		t.Skip("systemd-journal-remote is not installed (make deps installs it)")
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is not installed")
	}
	path := filepath.Join(dir, name)
	cmd := exec.Command(remote, "-o", path, "-")
	cmd.Stdin = bytes.NewReader(export)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
	return path
}

// FakeJournalctl writes an executable that ignores its arguments, prints stdout, prints
// stderr on standard error and exits with rc; it returns its path.
func FakeJournalctl(t testing.TB, stdout, stderr string, rc int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "out"), []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "err"), []byte(stderr), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\ncat %q\ncat %q >&2\nexit %d\n", filepath.Join(dir, "out"), filepath.Join(dir, "err"), rc)
	p := filepath.Join(dir, "journalctl")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
