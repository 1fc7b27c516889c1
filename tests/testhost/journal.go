package testhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

const journaldConf = `# journald of a recd test host (tests/testhost)
[Journal]
Storage=persistent
RateLimitIntervalSec=0
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
`

// StartJournald starts systemd-journald inside the host, with persistent storage in
// the host's /var/log/journal (StateDir()/journal on the machine), no rate limit and
// no kernel log, and waits until a message sent with systemd-cat can be read back
// with journalctl. As on a systemd host, journald's native socket is owned by another
// process (tests/cmd/journald-holder, standing in for systemd-journald.socket) and
// passed to journald by socket activation, so RestartJournald loses no queued message.
func (h *Host) StartJournald() *Daemon {
	h.t.Helper()
	const bin = "/lib/systemd/systemd-journald"
	if _, err := os.Stat(bin); err != nil {
		h.t.Skipf("integration test needs %s (systemd; run make deps); skipping", bin)
	}
	if h.journaldUp {
		h.t.Fatalf("testhost: journald already started on %s", h.name)
	}
	h.WriteFile("/etc/systemd/journald.conf.d/testhost.conf", []byte(journaldConf), 0o644)
	h.MustRun(h.t, "mkdir", "-p", "/run/systemd/journal", "/var/log/journal")
	d := h.Start("journald", BuildTool(h.t, "journald-holder"), bin)
	h.journald = d

	deadline := time.Now().Add(15 * time.Second)
	for {
		if h.Exists("/run/systemd/journal/stdout") {
			break
		}
		if ok, err := d.Exited(); ok {
			h.t.Fatalf("testhost: journald on %s exited (%v):\n%s", h.name, err, tail(d.Log(), 40))
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("testhost: journald on %s did not create its sockets in 15s:\n%s", h.name, tail(d.Log(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Move from /run/log/journal to persistent storage, as systemd-journal-flush does.
	if out, err := h.Run("journalctl", "--flush"); err != nil {
		h.t.Fatalf("testhost: journalctl --flush on %s: %v\n%s\njournald log:\n%s", h.name, err, out, tail(d.Log(), 40))
	}
	probe := "testhost-journal-probe-" + randomHex(8)
	h.MustRun(h.t, "systemd-cat", "-t", "testhost-probe", "echo", probe)
	for {
		out, _ := h.Run("journalctl", "--no-pager", "-t", "testhost-probe", "-o", "cat")
		if strings.Contains(string(out), probe) {
			break
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("testhost: journald on %s: systemd-cat message not found by journalctl in 15s:\n%s\njournald log:\n%s", h.name, out, tail(d.Log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.journaldUp = true
	return d
}

// RestartJournald restarts journald as `systemctl restart systemd-journald` does: the
// running journald gets SIGTERM, a new one starts on the same socket. It returns once the
// new journald has stored a probe message.
func (h *Host) RestartJournald() {
	h.t.Helper()
	if h.journald == nil {
		h.t.Fatalf("testhost: RestartJournald before StartJournald on %s", h.name)
	}
	h.journald.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(15 * time.Second)
	probe := "testhost-journal-restart-" + randomHex(8)
	for {
		_, _ = h.Run("systemd-cat", "-t", "testhost-probe", "echo", probe)
		out, _ := h.Run("journalctl", "--no-pager", "-t", "testhost-probe", "-o", "cat")
		if strings.Contains(string(out), probe) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("testhost: journald on %s did not come back after a restart:\n%s", h.name, tail(h.journald.Log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Journal runs journalctl --no-pager with args inside the host and returns its output.
// It fails the test if journalctl fails, except for "no entries".
func (h *Host) Journal(args ...string) string {
	h.t.Helper()
	out, err := h.Run("journalctl", append([]string{"--no-pager"}, args...)...)
	if err != nil {
		s := strings.TrimSpace(string(out))
		if s == "" || s == "-- No entries --" {
			return ""
		}
		h.t.Fatalf("testhost: %v", err)
	}
	return string(out)
}

// JournalJSON runs journalctl -o json with args inside the host and decodes the
// entries. Field values that journald gives as byte arrays (binary or non-UTF-8
// values, e.g. a MESSAGE with control characters) are returned as strings; a field
// with several values is a []any of them.
func (h *Host) JournalJSON(args ...string) []map[string]any {
	h.t.Helper()
	out := h.Journal(append([]string{"-o", "json"}, args...)...)
	entries, err := DecodeJournalJSON([]byte(out))
	if err != nil {
		h.t.Fatalf("testhost: journal of %s: %v", h.name, err)
	}
	return entries
}

// DecodeJournalJSON decodes journalctl -o json output (one object per line), turning
// byte-array field values into strings.
func DecodeJournalJSON(data []byte) ([]map[string]any, error) {
	var entries []map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var e map[string]any
		if err := dec.Decode(&e); err != nil {
			return entries, fmt.Errorf("decoding journalctl -o json: %w", err)
		}
		for k, v := range e {
			e[k] = journalValue(v)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func journalValue(v any) any {
	arr, ok := v.([]any)
	if !ok {
		return v
	}
	if b, ok := byteArray(arr); ok {
		return string(b)
	}
	out := make([]any, len(arr))
	for i, x := range arr {
		out[i] = journalValue(x)
	}
	return out
}

func byteArray(arr []any) ([]byte, bool) {
	b := make([]byte, 0, len(arr))
	for _, x := range arr {
		f, ok := x.(float64)
		if !ok || f < 0 || f > 255 || f != float64(int(f)) {
			return nil, false
		}
		b = append(b, byte(f))
	}
	return b, len(arr) > 0
}

// Field returns entry[name] as a string ("" if absent or not a single value).
func Field(entry map[string]any, name string) string {
	s, _ := entry[name].(string)
	return s
}
