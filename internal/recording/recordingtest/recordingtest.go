// Package recordingtest builds synthetic recordings for tests: recd-style ones with open,
// message and close entries and a valid hash chain (internal/chain), and tlog-style ones,
// as journal entries ready for journaltest.Export and journaltest.Import.
package recordingtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/recd-dev/recd/internal/chain"
	"github.com/recd-dev/recd/internal/journal/journaltest"
)

// Chunk is output written after a delay in ms.
type Chunk struct {
	Delay int64
	Text  string // valid UTF-8
}

// Message returns a tlog JSON v2.3 message (ending in a newline) with a window record
// (when cols > 0) and the output chunks, as tlog would write it.
func Message(rec, user, host string, id int, pos int64, cols, rows int, chunks ...Chunk) string {
	var timing, out strings.Builder
	if cols > 0 {
		timing.WriteString("=" + strconv.Itoa(cols) + "x" + strconv.Itoa(rows))
	}
	for _, c := range chunks {
		if c.Delay > 0 {
			timing.WriteString("+" + strconv.FormatInt(c.Delay, 10))
		}
		if n := utf8.RuneCountInString(c.Text); n > 0 {
			timing.WriteString(">" + strconv.Itoa(n))
			out.WriteString(c.Text)
		}
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	return `{"ver":"2.3","host":` + q(host) + `,"rec":` + q(rec) + `,"user":` + q(user) + `,"term":"xterm","session":4294967295,` +
		`"id":` + strconv.Itoa(id) + `,"pos":` + strconv.FormatInt(pos, 10) + `,"time":1795441429.584,"timing":` + q(timing.String()) +
		`,"in_txt":"","in_bin":[],"out_txt":` + q(out.String()) + `,"out_bin":[]}` + "\n"
}

// Recd builds a recording as recd writes it.
type Recd struct {
	ID, User, Host string
	Cols, Rows     int
	entries        []journaltest.Entry
	chain          string
	msgs           int
	pos            int64
}

// NewRecd starts a recording with its open entry.
func NewRecd(id, user, host string) *Recd {
	r := &Recd{ID: id, User: user, Host: host, Cols: 80, Rows: 24, chain: chain.Seed(id)}
	r.add("open", journaltest.F("MESSAGE_ID", "a5396ace7014482f89b10ad18209aba6"),
		journaltest.F("MESSAGE", "recording "+id+" of "+user+" started: sshd on /dev/pts/1 from 10.0.0.5"),
		journaltest.F("RECD_USER", user), journaltest.F("RECD_SERVICE", "sshd"), journaltest.F("RECD_TTY", "/dev/pts/1"),
		journaltest.F("RECD_RHOST", "10.0.0.5"), journaltest.F("RECD_MODE", "tty"), journaltest.F("RECD_TERM", "xterm"))
	return r
}

func (r *Recd) add(event string, fields ...journaltest.Field) {
	e := journaltest.Entry{
		journaltest.F("RECD_REC", r.ID), journaltest.F("RECD_ENTRY", strconv.Itoa(len(r.entries)+1)),
		journaltest.F("RECD_EVENT", event), journaltest.F("SYSLOG_IDENTIFIER", "recd"),
	}
	e = append(e, fields...)
	m := map[string][]byte{}
	for _, f := range e {
		m[f.Name] = f.Value
	}
	r.chain = chain.Next(r.chain, m)
	e = append(e, journaltest.F("RECD_CHAIN", r.chain))
	e = append(e, Trusted(r.Host)...)
	r.entries = append(r.entries, e)
}

// Trusted are the fields journald sets for recd's journal writer.
func Trusted(host string) []journaltest.Field {
	return []journaltest.Field{journaltest.F("_UID", "0"), journaltest.F("_GID", "0"), journaltest.F("_COMM", "tlog-rec-sessio"),
		journaltest.F("_EXE", "/usr/sbin/recd"), journaltest.F("_PID", "4242"), journaltest.F("_HOSTNAME", host),
		journaltest.F("_TRANSPORT", "journal")}
}

// Output adds one message entry with the chunks, the message's pos following the
// previous one's packets.
func (r *Recd) Output(chunks ...Chunk) {
	r.msgs++
	pos := r.pos
	for _, c := range chunks {
		r.pos += c.Delay
	}
	msg := Message(r.ID, r.User, r.Host, r.msgs, pos, r.Cols, r.Rows, chunks...)
	r.add("message", journaltest.F("MESSAGE", msg), journaltest.F("TLOG_REC", r.ID), journaltest.F("TLOG_USER", r.User),
		journaltest.F("TLOG_SESSION", "4294967295"), journaltest.F("TLOG_ID", strconv.Itoa(r.msgs)), journaltest.F("PRIORITY", "6"),
		journaltest.F("RECD_NEXT", strconv.Itoa(r.msgs+1)+":0"), journaltest.F("RECD_WINDOW", strconv.Itoa(r.Cols)+"x"+strconv.Itoa(r.Rows)))
}

// Close adds the close entry.
func (r *Recd) Close(status string, bytesOut int) {
	r.add("close", journaltest.F("MESSAGE_ID", "f2488270cfa24aa49a7e96c3b2d049bd"),
		journaltest.F("MESSAGE", "recording "+r.ID+" of "+r.User+" ended: "+status),
		journaltest.F("RECD_STATUS", status), journaltest.F("RECD_REASON", "exit"),
		journaltest.F("RECD_MESSAGES", strconv.Itoa(r.msgs)), journaltest.F("RECD_BYTES_OUT", strconv.Itoa(bytesOut)),
		journaltest.F("RECD_DURATION_US", strconv.FormatInt(r.pos*1000, 10)))
}

// Entries returns the entries written so far (the slice is the builder's: tests may
// reorder, drop or alter them).
func (r *Recd) Entries() []journaltest.Entry { return r.entries }

// Tlog returns the entries tlog-rec-session's journal writer makes for the messages.
func Tlog(rec, user, host string, msgs ...string) []journaltest.Entry {
	var out []journaltest.Entry
	for i, m := range msgs {
		out = append(out, journaltest.Entry{
			journaltest.F("MESSAGE", m), journaltest.F("TLOG_REC", rec), journaltest.F("TLOG_USER", user),
			journaltest.F("TLOG_SESSION", "5"), journaltest.F("TLOG_ID", strconv.Itoa(i+1)), journaltest.F("PRIORITY", "6"),
			journaltest.F("SYSLOG_IDENTIFIER", "-tlog-rec-session"), journaltest.F("_UID", "994"),
			journaltest.F("_COMM", "tlog-rec-sessio"), journaltest.F("_EXE", "/usr/bin/tlog-rec-session"),
			journaltest.F("_HOSTNAME", host), journaltest.F("_PID", "1536"), journaltest.F("_TRANSPORT", "journal"),
		})
	}
	return out
}

// TlogRec records the shell command cmd with Debian's tlog-rec (file writer) on a
// pseudo-terminal and returns the JSON messages it wrote. tlog-rec needs /run/utmp, so it
// runs in a private mount namespace with its own /run (never the machine's). The test is
// skipped when that is not possible (not root, no unshare, script or tlog-rec).
func TlogRec(t testing.TB, cmd string) []string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("recording with tlog-rec needs root (a private mount namespace for /run/utmp)")
	}
	for _, p := range []string{"tlog-rec", "unshare", "script"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed (make deps installs tlog and util-linux)", p)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "rec.log")
	cmdFile := filepath.Join(dir, "cmd.sh")
	run := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(cmdFile, []byte(cmd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "mount -t tmpfs tmpfs /run && : > /run/utmp && exec script -qec 'tlog-rec --writer=file --file-path=" + out +
		" sh " + cmdFile + "' /dev/null\n"
	if err := os.WriteFile(run, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("unshare", "-m", "sh", run)
	if msg, err := c.CombinedOutput(); err != nil {
		t.Skipf("cannot run tlog-rec here: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil || len(data) == 0 {
		t.Fatalf("tlog-rec wrote nothing: %v", err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
}

// TlogRecEntries are the journal entries tlog-rec's journal writer would have made for
// messages (fields from each message; _COMM=tlog-rec, the recording user's UID).
func TlogRecEntries(msgs []string) []journaltest.Entry {
	var out []journaltest.Entry
	for _, m := range msgs {
		var h struct {
			Rec, User, Host string
			ID              int
			Session         uint32
		}
		_ = json.Unmarshal([]byte(m), &h)
		out = append(out, journaltest.Entry{
			journaltest.F("MESSAGE", m), journaltest.F("TLOG_REC", h.Rec), journaltest.F("TLOG_USER", h.User),
			journaltest.F("TLOG_SESSION", strconv.FormatUint(uint64(h.Session), 10)), journaltest.F("TLOG_ID", strconv.Itoa(h.ID)),
			journaltest.F("PRIORITY", "6"), journaltest.F("SYSLOG_IDENTIFIER", "tlog-rec"), journaltest.F("_UID", "0"),
			journaltest.F("_COMM", "tlog-rec"), journaltest.F("_EXE", "/usr/bin/tlog-rec"), journaltest.F("_HOSTNAME", h.Host),
			journaltest.F("_TRANSPORT", "journal"),
		})
	}
	return out
}
