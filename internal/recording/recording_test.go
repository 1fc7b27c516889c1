package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/journal"
	"github.com/recd-dev/recd/internal/journal/journaltest"
	rt "github.com/recd-dev/recd/internal/recording/recordingtest"
	"github.com/recd-dev/recd/internal/tlog"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// at gives entries the journal time t0 + offset, in order.
func at(offset time.Duration, es []journaltest.Entry) []journaltest.Entry {
	out := make([]journaltest.Entry, len(es))
	for i, e := range es {
		ts := strconv.FormatInt(t0.Add(offset+time.Duration(i)*time.Millisecond).UnixMicro(), 10)
		out[i] = append(journaltest.Entry{journaltest.F("__REALTIME_TIMESTAMP", ts)}, e...)
	}
	return out
}

// fixture is a journal with four recordings and noise:
//
//	A  recd, alice@h1, complete, "hello" then "world" in bold split across messages
//	B  recd, bob@h2, live (no close entry)
//	C  recd, alice@h1, aborted
//	D  tlog, carol@h2
//
// plus a forged entry claiming A (written by uid 1000 with logger) and an unrelated entry.
func fixture(t *testing.T) journal.Source {
	t.Helper()
	a := rt.NewRecd("aaaa-1-1", "alice", "h1")
	a.Output(rt.Chunk{Text: "hello\r\n"})
	a.Output(rt.Chunk{Delay: 1500, Text: "wo\x1b[1mr"}, rt.Chunk{Delay: 10, Text: "ld\x1b[0m\r\n"})
	a.Close("complete", 20)
	b := rt.NewRecd("bbbb-2-2", "bob", "h2")
	b.Output(rt.Chunk{Text: "top secret\r\n"})
	c := rt.NewRecd("cccc-3-3", "alice", "h1")
	c.Output(rt.Chunk{Text: "vi /etc/passwd\r\n"})
	c.Close("aborted", 16)
	d := rt.Tlog("dddd-4-4", "carol", "h2",
		rt.Message("dddd-4-4", "carol", "h2", 1, 0, 100, 30, rt.Chunk{Text: "$ ls\r\n"}),
		rt.Message("dddd-4-4", "carol", "h2", 2, 2000, 100, 30, rt.Chunk{Text: "Makefile\r\n"}))
	forged := journaltest.Entry{journaltest.F("MESSAGE", "fake"), journaltest.F("RECD_REC", "aaaa-1-1"), journaltest.F("RECD_EVENT", "message"),
		journaltest.F("TLOG_REC", "aaaa-1-1"), journaltest.F("_UID", "1000"), journaltest.F("_COMM", "logger"), journaltest.F("_HOSTNAME", "h1")}
	noise := journaltest.Entry{journaltest.F("MESSAGE", "hello from sshd"), journaltest.F("_COMM", "sshd"), journaltest.F("_HOSTNAME", "h1")}
	var all []journaltest.Entry
	all = append(all, at(0, a.Entries())...)
	all = append(all, at(time.Hour, b.Entries())...)
	all = append(all, at(2*time.Hour, c.Entries())...)
	all = append(all, at(3*time.Hour, d)...)
	all = append(all, at(4*time.Hour, []journaltest.Entry{forged, noise})...)
	path := journaltest.Import(t, t.TempDir(), "fixture.journal", journaltest.Export(t0, all))
	return journal.Source{Files: []string{path}}
}

func TestList(t *testing.T) {
	src := fixture(t)
	ctx := context.Background()
	ts := func(d time.Duration) string { return "@" + strconv.FormatInt(t0.Add(d).Unix(), 10) }
	tests := []struct {
		name string
		o    ListOptions
		want string // ids, oldest first
	}{
		{"all", ListOptions{}, "aaaa-1-1 bbbb-2-2 cccc-3-3 dddd-4-4"},
		{"user", ListOptions{User: "alice"}, "aaaa-1-1 cccc-3-3"},
		{"user of tlog recording", ListOptions{User: "carol"}, "dddd-4-4"},
		{"host", ListOptions{Host: "h2"}, "bbbb-2-2 dddd-4-4"},
		{"user and host", ListOptions{User: "alice", Host: "h2"}, ""},
		{"status complete", ListOptions{Status: StatusComplete}, "aaaa-1-1"},
		{"status live", ListOptions{Status: StatusLive}, "bbbb-2-2"},
		{"status aborted", ListOptions{Status: StatusAborted}, "cccc-3-3"},
		{"status unverified", ListOptions{Status: StatusUnverified}, "dddd-4-4"},
		{"grep across packets and escapes", ListOptions{Grep: "world"}, "aaaa-1-1"},
		{"grep smart case", ListOptions{Grep: "SECRET"}, ""},
		{"grep lower case folds", ListOptions{Grep: "makefile"}, "dddd-4-4"},
		{"grep no match", ListOptions{Grep: "nothing"}, ""},
		{"since", ListOptions{Since: ts(90 * time.Minute)}, "cccc-3-3 dddd-4-4"},
		{"until", ListOptions{Until: ts(90 * time.Minute)}, "aaaa-1-1 bbbb-2-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := List(ctx, src, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if strings.Join(ids, " ") != tt.want {
				t.Fatalf("got %q, want %q", ids, tt.want)
			}
		})
	}
	all, _ := List(ctx, src, ListOptions{})
	a, d := all[0], all[3]
	if a.User != "alice" || a.Host != "h1" || a.Service != "sshd" || a.TTY != "/dev/pts/1" || a.RemoteHost != "10.0.0.5" ||
		a.Status != StatusComplete || a.BytesOut != 20 || a.Kind != KindRecd || a.Messages != 2 || !a.Start.Equal(t0) ||
		a.Duration != 1510*time.Millisecond {
		t.Errorf("A: %+v", a)
	}
	if d.User != "carol" || d.Host != "h2" || d.Kind != KindTlog || d.Status != StatusUnverified || d.BytesOut != 16 ||
		d.Duration != 2*time.Second || d.Term != "xterm" {
		t.Errorf("D: %+v", d)
	}
}

func TestLoadIgnoresForged(t *testing.T) {
	src := fixture(t)
	r, err := Load(context.Background(), src, "aaaa-1-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindRecd || len(r.Entries) != 5 || len(r.Foreign()) != 1 || len(r.Messages()) != 2 {
		t.Fatalf("kind %v, %d entries, %d foreign, %d messages", r.Kind, len(r.Entries), len(r.Foreign()), len(r.Messages()))
	}
	pkts, err := r.Decode(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(outputOf(pkts)); got != "hello\r\nwo\x1b[1mrld\x1b[0m\r\n" {
		t.Fatalf("output %q", got)
	}
	if _, err := Load(context.Background(), src, "nope"); err == nil || !strings.Contains(err.Error(), `no recording "nope"`) {
		t.Fatalf("missing recording: %v", err)
	}
}

func outputOf(pkts []tlog.Packet) []byte {
	var b []byte
	for _, p := range pkts {
		if p.Kind == tlog.PacketOutput {
			b = append(b, p.Data...)
		}
	}
	return b
}

// TestPlayerSeek: seeking backwards then forwards gives the same screen as straight play:
// after the last reset the bytes written are exactly those of straight play, and a reset
// leaves nothing of what came before on a terminal.
func TestPlayerSeek(t *testing.T) {
	var pkts []tlog.Packet
	for i := 0; i < 50; i++ {
		pkts = append(pkts, tlog.Packet{Kind: tlog.PacketOutput, Time: int64(i) * 1000, Data: []byte("\x1b[" + strconv.Itoa(i%24+1) + ";1Hline " + strconv.Itoa(i) + "\r\n")})
		if i == 20 {
			pkts = append(pkts, tlog.Packet{Kind: tlog.PacketWindow, Time: int64(i) * 1000, Cols: 100, Rows: 30})
		}
	}
	var straight bytes.Buffer
	sp := NewPlayer(pkts)
	for !sp.AtEnd() {
		if err := sp.Step(&straight); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		seeks []int64
	}{
		{"back to start then end", []int64{30000, 0, 49000}},
		{"back 5 s then forward 5 s repeatedly", []int64{25000, 20000, 25000, 15000, 10000, 15000, 20000, 49000}},
		{"forward past the end", []int64{10000, 5000, 100000}},
		{"back before the first packet", []int64{40000, -5000, 60000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := NewPlayer(pkts)
			for _, s := range tt.seeks {
				if err := p.SeekTo(&out, s); err != nil {
					t.Fatal(err)
				}
				want := s
				if want < 0 {
					want = 0
				}
				if want > p.Length() {
					want = p.Length()
				}
				if p.Pos() != want || p.IndexAt(want) != p.next {
					t.Fatalf("after seek to %d: pos %d, next %d (want %d)", s, p.Pos(), p.next, p.IndexAt(want))
				}
			}
			b := out.Bytes()
			last := bytes.LastIndex(b, []byte(Reset))
			if last < 0 {
				t.Fatal("no reset written when seeking backwards")
			}
			if got := b[last+len(Reset):]; !bytes.Equal(got, straight.Bytes()) {
				t.Fatalf("screen after seeking differs from straight play:\n%q\n%q", got, straight.Bytes())
			}
			if c, r, ok := p.WindowSize(); !ok || c != 100 || r != 30 {
				t.Fatalf("window %dx%d %v", c, r, ok)
			}
		})
	}
}

func TestStripper(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\r\ntext\n", "plain\ntext\n"},
		{"\x1b[1;31mred\x1b[0m", "red"},
		{"\x1b]0;title\x07after", "after"},
		{"\x1b]0;title\x1b\\after", "after"},
		{"\x1bP1$r0m\x1b\\dcs", "dcs"},
		{"\x1b(Bcharset\x1b)0", "charset"},
		{"\x1b7save\x1b8\x1bc", "save"},
		{"bell\x07 back\bspace\ttab", "bell backspace\ttab"},
		{"a\rb", "ab"},
		{"\x1b[?1049h\x1b[H\x1b[2Jvim", "vim"},
		{"héllo 😀", "héllo 😀"},
	}
	for _, tt := range tests {
		if got := StripString([]byte(tt.in)); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
		// Split at every position: the state carries across writes.
		for i := 0; i <= len(tt.in); i++ {
			var b bytes.Buffer
			s := &Stripper{W: &b}
			s.Write([]byte(tt.in[:i]))
			s.Write([]byte(tt.in[i:]))
			if b.String() != tt.want {
				t.Errorf("%q split at %d: got %q", tt.in, i, b.String())
				break
			}
		}
	}
}

func TestAsciicast(t *testing.T) {
	pkts := []tlog.Packet{
		{Kind: tlog.PacketWindow, Time: 0, Cols: 100, Rows: 30},
		{Kind: tlog.PacketOutput, Time: 0, Data: []byte("h\xc3")},
		{Kind: tlog.PacketOutput, Time: 5, Data: []byte("\xa9llo <b>&\r\n")},
		{Kind: tlog.PacketInput, Time: 1200, Data: []byte("ls\r")},
		{Kind: tlog.PacketOutput, Time: 1250, Data: []byte("bad:\xff\x1b[0m")},
		{Kind: tlog.PacketWindow, Time: 2000, Cols: 120, Rows: 40},
	}
	var b bytes.Buffer
	s := Summary{ID: "r1", User: "alice", Host: "h1", Term: "xterm", Start: t0}
	if err := WriteAsciicast(&b, s, pkts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	var h AsciicastHeader
	if err := json.Unmarshal([]byte(lines[0]), &h); err != nil {
		t.Fatal(err)
	}
	if h.Version != 2 || h.Width != 100 || h.Height != 30 || h.Timestamp != t0.Unix() || h.Env["TERM"] != "xterm" || h.Duration != 2 {
		t.Fatalf("header %+v", h)
	}
	type ev struct {
		t    float64
		code string
		data string
	}
	want := []ev{{0, "o", "h"}, {0.005, "o", "\u00e9llo <b>&\r\n"}, {1.2, "i", "ls\r"}, {1.25, "o", "bad:\uFFFD\x1b[0m"}, {2, "r", "120x40"}}
	if len(lines)-1 != len(want) {
		t.Fatalf("%d events, want %d:\n%s", len(lines)-1, len(want), b.String())
	}
	for i, l := range lines[1:] {
		var raw []any
		if err := json.Unmarshal([]byte(l), &raw); err != nil || len(raw) != 3 {
			t.Fatalf("event %d %q: %v", i, l, err)
		}
		got := ev{raw[0].(float64), raw[1].(string), raw[2].(string)}
		if got != want[i] {
			t.Errorf("event %d: got %+v, want %+v", i, got, want[i])
		}
	}
	if !strings.Contains(b.String(), "<b>&") {
		t.Error("HTML characters escaped")
	}
}

// TestAsciinemaCat: Debian's asciinema reproduces the recorded output from the export.
func TestAsciinemaCat(t *testing.T) {
	if _, err := exec.LookPath("asciinema"); err != nil {
		t.Skip("asciinema is not installed (make deps installs it)")
	}
	src := fixture(t)
	r, err := Load(context.Background(), src, "aaaa-1-1")
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := r.Decode(false)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.cast")
	var b bytes.Buffer
	if err := WriteAsciicast(&b, r.Summary(), pkts); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o644)
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) is not installed")
	}
	// asciinema cat opens /dev/tty: script(1) gives it a controlling terminal, and its
	// output goes to a file, not through the terminal.
	outPath := path + ".out"
	cmd := exec.Command("script", "-qec", "asciinema cat "+path+" > "+outPath, "/dev/null")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("asciinema cat: %v\n%s\n%s", err, msg, b.String())
	}
	out, _ := os.ReadFile(outPath)
	if !bytes.Equal(out, outputOf(pkts)) {
		t.Fatalf("asciinema cat gives %q, want %q", out, outputOf(pkts))
	}
}

func TestExportTextAndTlog(t *testing.T) {
	src := fixture(t)
	r, err := Load(context.Background(), src, "aaaa-1-1")
	if err != nil {
		t.Fatal(err)
	}
	pkts, _ := r.Decode(false)
	var txt, tl bytes.Buffer
	if err := WriteText(&txt, pkts); err != nil || txt.String() != "hello\nworld\n" {
		t.Fatalf("text %q %v", txt.String(), err)
	}
	if err := WriteTlog(&tl, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(tl.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != r.Messages()[0].Get("MESSAGE") {
		t.Fatalf("tlog lines %q", lines)
	}
}

// verifyFixture imports entries and verifies recording id.
func verifyFixture(t *testing.T, id string, es []journaltest.Entry) *Report {
	t.Helper()
	path := journaltest.Import(t, t.TempDir(), "v.journal", journaltest.Export(t0, es))
	r, err := Load(context.Background(), journal.Source{Files: []string{path}}, id)
	if err != nil {
		t.Fatal(err)
	}
	return Verify(r)
}

func goodRecd() *rt.Recd {
	r := rt.NewRecd("vvvv-1-1", "alice", "h1")
	for i := 0; i < 5; i++ {
		r.Output(rt.Chunk{Delay: 100, Text: "line " + strconv.Itoa(i) + "\r\n"})
	}
	r.Close("complete", 35)
	return r
}

func TestVerify(t *testing.T) {
	forged := func(es []journaltest.Entry) []journaltest.Entry {
		// A user copies a genuine message entry, changes the text and logs it with
		// logger: every RECD_/TLOG_ field is as recd would write it; _UID and _COMM are not.
		f := append(journaltest.Entry(nil), es[3]...)
		for i := range f {
			switch f[i].Name {
			case "_UID":
				f[i].Value = []byte("1000")
			case "_COMM":
				f[i].Value = []byte("logger")
			}
		}
		return append(es[:4:4], append([]journaltest.Entry{f}, es[4:]...)...)
	}
	tests := []struct {
		name   string
		edit   func([]journaltest.Entry) []journaltest.Entry
		ok     bool
		expect []string // problems, each a substring of one problem
	}{
		{"intact", func(es []journaltest.Entry) []journaltest.Entry { return es }, true, nil},
		{"missing message", func(es []journaltest.Entry) []journaltest.Entry {
			return append(es[:3:3], es[4:]...) // entry 4 = message 3
		}, false, []string{"entry 4 is missing", "entry 5, message 4", "hash chain broken", "message 3 is missing", "RECD_MESSAGES=5, but 4 message entries"}},
		{"reordered message", func(es []journaltest.Entry) []journaltest.Entry {
			out := append([]journaltest.Entry(nil), es...)
			out[3], out[4] = out[4], out[3]
			return out
		}, false, []string{"entry 4 is out of order: it comes after entry 5 in the journal"}},
		{"forged message", forged, false, []string{"forged: names recording vvvv-1-1 but was written by _UID=1000 _COMM=logger", "not part of the chain"}},
		{"missing close", func(es []journaltest.Entry) []journaltest.Entry { return es[:len(es)-1] }, false,
			[]string{"no close entry"}},
		{"altered message", func(es []journaltest.Entry) []journaltest.Entry {
			out := append([]journaltest.Entry(nil), es...)
			out[2] = append(journaltest.Entry(nil), out[2]...)
			msg := strings.Replace(out[2].Get("MESSAGE"), "line 1", "line X", 1)
			out[2] = out[2].Set("MESSAGE", []byte(msg))
			return out
		}, false, []string{"entry 3, message 2", "hash chain broken (RECD_CHAIN does not follow from entry 2): its content was altered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := verifyFixture(t, "vvvv-1-1", tt.edit(goodRecd().Entries()))
			text := rep.Text()
			t.Log("\n" + text) // go test -v shows the reports
			if rep.OK() != tt.ok {
				t.Fatalf("OK = %v, want %v:\n%s", rep.OK(), tt.ok, text)
			}
			for _, want := range tt.expect {
				if !strings.Contains(text, want) {
					t.Errorf("report lacks %q:\n%s", want, text)
				}
			}
			if tt.ok && (len(rep.Problems) != 0 || rep.Entries != 7 || rep.Messages != 5) {
				t.Errorf("intact recording: %s", text)
			}
		})
	}
}

func TestVerifyTlog(t *testing.T) {
	msgs := func(ids ...int) []string {
		var out []string
		for _, id := range ids {
			out = append(out, rt.Message("tttt-1-1", "carol", "h2", id, int64(id)*100, 80, 24, rt.Chunk{Text: "x"}))
		}
		return out
	}
	rep := verifyFixture(t, "tttt-1-1", rt.Tlog("tttt-1-1", "carol", "h2", msgs(1, 2, 3)...))
	if rep.OK() || rep.Verifiable || len(rep.Problems) != 0 || !strings.Contains(rep.Text(), "UNVERIFIABLE") ||
		!strings.Contains(rep.Text(), "no hash chain") {
		t.Fatalf("tlog recording:\n%s", rep.Text())
	}
	es := rt.Tlog("tttt-1-1", "carol", "h2", msgs(1, 2, 3, 4)...)
	es = append(es[:2], es[3:]...)
	rep = verifyFixture(t, "tttt-1-1", es)
	if !strings.Contains(rep.Text(), "message 3 is missing") {
		t.Fatalf("missing tlog message:\n%s", rep.Text())
	}
}

func TestParseStatus(t *testing.T) {
	for _, s := range Statuses {
		if got, err := ParseStatus(string(s)); err != nil || got != s {
			t.Fatal(s, err)
		}
	}
	if _, err := ParseStatus("done"); err == nil || !strings.Contains(err.Error(), "complete, aborted, truncated, live, unverified") {
		t.Fatal(err)
	}
	_ = reflect.DeepEqual
}
