package tlog

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// goldenLine is tlog-format.md §1.4: tlog 12.1 recording `h\303\251llo\n`, 1.2 s sleep,
// `bad:\377\376 inc:\342\202 end\n\001\033[0m`, then `\360\237\230\200 "q" \\ \t`.
const goldenLine = `{"ver":"2.3","host":"vm","rec":"bd14232dc81e46a4a8af76fb22dbf6bb-1ef7-ce86","user":"root","term":"xterm",` +
	`"session":4294967295,"id":1,"pos":0,"time":1795441429.584,"timing":"=0x0>7+1202>4]2/2>5]1/2>20","in_txt":"",` +
	`"in_bin":[],"out_txt":"héllo\r\nbad:�� inc:� end\r\n\u0001\u001b[0m😀 \"q\" \\ \t","out_bin":[255,254,226,130]}` + "\n"

// goodID7 is message 7 of tlog's lib/tlitest/journal-good.txt (format 2.2, no "time").
const goodID7 = `{"ver":"2.2","host":"mytesthost.example.test","rec":"6211b985bd1e49908726bd24cd514099-600-b0b9","user":"localuser1","term":"xterm-256color","session":5,"id":7,"pos":20678,"timing":"=103x27>1+83>1+121>1+86>1+343>2+14>10+2402>2+2648>83+499>1+276>1+210>1+120>1+388>10","in_txt":"","in_bin":[],"out_txt":"su -\r\nPassword: \r\nsu: Authentication failure\r\n\u001b]0;localuser1@mytesthost:~\u0007[localuser1@mytesthost ~]$ exit\r\nlogout\r\n","out_bin":[]}`

func TestParseGolden(t *testing.T) {
	m, err := ParseMessage([]byte(goldenLine))
	if err != nil {
		t.Fatal(err)
	}
	if m.VerMajor != 2 || m.VerMinor != 3 || m.Host != "vm" || m.User != "root" || m.Term != "xterm" ||
		m.Session != 4294967295 || m.ID != 1 || m.Pos != 0 || !m.HasTime || m.Time != 1795441429.584 ||
		m.Rec != "bd14232dc81e46a4a8af76fb22dbf6bb-1ef7-ce86" || !reflect.DeepEqual(m.OutBin, []byte{255, 254, 226, 130}) {
		t.Fatalf("fields: %+v", m)
	}
	pkts, err := m.Packets()
	if err != nil {
		t.Fatal(err)
	}
	want := []Packet{
		{Kind: PacketWindow, Time: 0, Cols: 0, Rows: 0},
		{Kind: PacketOutput, Time: 0, Data: []byte("h\303\251llo\r\n")},
		{Kind: PacketOutput, Time: 1202, Data: []byte("bad:\377\376 inc:\342\202 end\r\n\001\033[0m\360\237\230\200 \"q\" \\ \t")},
	}
	if !reflect.DeepEqual(pkts, want) {
		t.Fatalf("packets:\n got %+v\nwant %+v", pkts, want)
	}
}

func TestParseJournalGood(t *testing.T) {
	m, err := ParseMessage([]byte(goodID7))
	if err != nil {
		t.Fatal(err)
	}
	if m.HasTime || m.VerMinor != 2 || m.Pos != 20678 {
		t.Fatalf("%+v", m)
	}
	pkts, err := m.Packets()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, p := range pkts {
		out.Write(p.Data)
	}
	if !strings.HasSuffix(out.String(), "exit\r\nlogout\r\n") || pkts[len(pkts)-1].Time != 20678+83+121+86+343+14+2402+2648+499+276+210+120+388 {
		t.Fatalf("output %q, last packet %+v", out.String(), pkts[len(pkts)-1])
	}
}

// msg builds a message with the given fields replaced ("-key" removes it).
func msg(edits ...string) string {
	fields := []string{`"ver":"2.3"`, `"host":"h"`, `"rec":"r"`, `"user":"u"`, `"term":"xterm"`, `"session":1`,
		`"id":1`, `"pos":0`, `"time":1.5`, `"timing":">2"`, `"in_txt":""`, `"in_bin":[]`, `"out_txt":"ab"`, `"out_bin":[]`}
	for _, e := range edits {
		key := e
		if k, _, ok := strings.Cut(e, ":"); ok {
			key = k
		}
		del := strings.HasPrefix(key, "-")
		key = strings.TrimPrefix(key, "-")
		for i, f := range fields {
			if strings.HasPrefix(f, key+":") {
				if del {
					fields[i] = ""
				} else {
					fields[i] = e
				}
			}
		}
	}
	var kept []string
	for _, f := range fields {
		if f != "" {
			kept = append(kept, f)
		}
	}
	return "{" + strings.Join(kept, ",") + "}"
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, in string
		err      string // "" = valid
	}{
		{"complete", msg(), ""},
		{"ver int", msg(`"ver":2`), ""},
		{"ver major only", msg(`"ver":"2"`), ""},
		{"ver 1.0", msg(`"ver":"1.0"`), ""},
		{"no rec, time, txt", msg(`-"rec"`, `-"time"`, `-"in_txt"`, `-"out_txt"`, `"timing":""`), ""},
		{"trailing newline", msg() + "\n", ""},
		{"ver 3", msg(`"ver":"3.0"`), `"ver" field: unsupported version`},
		{"ver float", msg(`"ver":2.3`), `"ver" field: must be a string or an integer`},
		{"ver junk", msg(`"ver":"2.x"`), `"ver" field: invalid version`},
		{"ver empty", msg(`"ver":""`), `"ver" field: invalid version`},
		{"ver missing", msg(`-"ver"`), `"ver" field: missing`},
		{"host missing", msg(`-"host"`), `"host" field: missing`},
		{"host number", msg(`"host":1`), `"host" field: must be a string, not an integer`},
		{"rec number", msg(`"rec":1`), `"rec" field: must be a string`},
		{"user missing", msg(`-"user"`), `"user" field: missing`},
		{"term null", msg(`"term":null`), `"term" field: must be a string, not null`},
		{"session 0", msg(`"session":0`), `"session" field: value 0 out of range`},
		{"session too big", msg(`"session":4294967296`), `"session" field: value`},
		{"session string", msg(`"session":"1"`), `"session" field: must be an integer, not a string`},
		{"id negative", msg(`"id":-1`), `"id" field: value -1 out of range`},
		{"id float", msg(`"id":1.0`), `"id" field: must be an integer, not a number with a fraction`},
		{"pos too big", msg(`"pos":2147483648000`), `"pos" field: value`},
		{"pos missing", msg(`-"pos"`), `"pos" field: missing`},
		{"time string", msg(`"time":"1"`), `"time" field: must be a number`},
		{"time negative", msg(`"time":-1.5`), `"time" field: invalid value`},
		{"timing missing", msg(`-"timing"`), `"timing" field: missing`},
		{"out_txt array", msg(`"out_txt":[]`), `"out_txt" field: must be a string, not an array`},
		{"in_bin missing", msg(`-"in_bin"`), `"in_bin" field: missing`},
		{"out_bin missing", msg(`-"out_bin"`), `"out_bin" field: missing`},
		{"out_bin 256", msg(`"out_bin":[1,256]`), `"out_bin" field: element 1: 256 is not a byte`},
		{"out_bin string", msg(`"out_bin":["a"]`), `"out_bin" field: element 0 must be an integer`},
		{"not an object", `[1,2]`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"empty", ``, "not a JSON object"},
		{"truncated", msg()[:40], "not a JSON object"},
		{"trailing data", msg() + `{}`, "data after the JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage([]byte(tt.in))
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one containing %q", err, tt.err)
			}
		})
	}
}

func TestPackets(t *testing.T) {
	o := func(tm int64, s string) Packet { return Packet{Kind: PacketOutput, Time: tm, Data: []byte(s)} }
	i := func(tm int64, s string) Packet { return Packet{Kind: PacketInput, Time: tm, Data: []byte(s)} }
	w := func(tm int64, c, r uint16) Packet { return Packet{Kind: PacketWindow, Time: tm, Cols: c, Rows: r} }
	tests := []struct {
		name        string
		pos         int64
		timing      string
		inTxt, out  string
		inBin, outB []byte
		want        []Packet
		err         string
	}{
		{name: "empty", timing: "", want: nil},
		{name: "one run", timing: ">3", out: "abc", want: []Packet{o(0, "abc")}},
		{name: "pos and delays", pos: 1000, timing: ">1+5>1+1500>1", out: "abc",
			want: []Packet{o(1000, "a"), o(1005, "b"), o(2505, "c")}},
		{name: "adjacent runs merge", timing: ">1>2", out: "abc", want: []Packet{o(0, "abc")}},
		{name: "direction change splits", timing: "<1>1<1", inTxt: "xy", out: "a",
			want: []Packet{i(0, "x"), o(0, "a"), i(0, "y")}},
		{name: "whitespace between records", timing: " >1 \n+2\t>1 ", out: "ab", want: []Packet{o(0, "a"), o(2, "b")}},
		{name: "plus zero and zero counts ignored", timing: "+0>0>1+0>1", out: "ab", want: []Packet{o(0, "ab")}},
		{name: "window", timing: "=80x24>1=100x30>1", out: "ab",
			want: []Packet{w(0, 80, 24), o(0, "a"), w(0, 100, 30), o(0, "b")}},
		{name: "binary output", timing: "]1/2>1", out: "\uFFFDz", outB: []byte{0xe2, 0x82},
			want: []Packet{o(0, "\xe2\x82z")}},
		{name: "binary input", timing: "[2/2", inTxt: "\uFFFD\uFFFD", inBin: []byte{255, 254},
			want: []Packet{i(0, "\xff\xfe")}},
		{name: "multibyte characters counted once", timing: ">2", out: "é😀", want: []Packet{o(0, "é😀")}},
		{name: "leftover text is not an error", timing: ">1", out: "abc", want: []Packet{o(0, "a")}},
		{name: "text too short", timing: ">4", out: "abc", err: "out_txt is too short"},
		{name: "input text too short", timing: "<1", err: "in_txt is too short"},
		{name: "bin too short", timing: "]1/3", out: "\uFFFD", outB: []byte{1, 2}, err: "out_bin is too short"},
		{name: "skip text too short", timing: "]2/1", out: "\uFFFD", outB: []byte{1}, err: "out_txt is too short"},
		{name: "bad character", timing: ">1x", out: "a", err: `unexpected character 'x' at offset 2`},
		{name: "bare number", timing: "0", err: `unexpected character '0' at offset 0`},
		{name: "missing number", timing: ">", err: "expected a number at offset 1"},
		{name: "negative", timing: ">-1", err: "expected a number"},
		{name: "missing slash", timing: "]1", err: `expected '/'`},
		{name: "missing x", timing: "=80", err: `expected 'x'`},
		{name: "window too big", timing: "=65536x1", err: "window size too large"},
		{name: "delay too big", timing: "+2147483648000", err: "delay too large"},
		{name: "number overflow", timing: ">99999999999999999999999", err: "number too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &ParsedMessage{Pos: tt.pos, Timing: tt.timing, InTxt: tt.inTxt, OutTxt: tt.out, InBin: tt.inBin, OutBin: tt.outB}
			got, err := m.Packets()
			if tt.err != "" {
				var te *TimingError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &te) {
					t.Fatalf("error %v, want a TimingError containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecoderSequence(t *testing.T) {
	m := func(id uint64, pos int64, timing string) *ParsedMessage {
		return &ParsedMessage{ID: id, Pos: pos, Timing: timing, OutTxt: "abcdef"}
	}
	tests := []struct {
		name string
		lax  bool
		msgs []*ParsedMessage
		err  error // on the last message
	}{
		{"contiguous", false, []*ParsedMessage{m(1, 0, ">1"), m(2, 5, ">1"), m(3, 5, ">1")}, nil},
		{"first id may be anything", false, []*ParsedMessage{m(7, 0, ">1"), m(8, 5, ">1")}, nil},
		{"gap strict", false, []*ParsedMessage{m(1, 0, ">1"), m(3, 5, ">1")}, ErrIDOrder},
		{"gap lax", true, []*ParsedMessage{m(1, 0, ">1"), m(3, 5, ">1")}, nil},
		{"backwards lax", true, []*ParsedMessage{m(2, 0, ">1"), m(1, 5, ">1")}, ErrIDOrder},
		{"repeat lax", true, []*ParsedMessage{m(2, 0, ">1"), m(2, 5, ">1")}, ErrIDOrder},
		{"time backwards", false, []*ParsedMessage{m(1, 0, ">1+10>1"), m(2, 5, ">1")}, ErrTimeOrder},
		{"time equal is fine", false, []*ParsedMessage{m(1, 0, ">1+10>1"), m(2, 10, ">1")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{Lax: tt.lax}
			var err error
			for i, msg := range tt.msgs {
				_, err = d.Decode(msg)
				if i < len(tt.msgs)-1 && err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
		})
	}
}

func TestDecoderWindowSuppression(t *testing.T) {
	d := &Decoder{}
	var kinds []string
	for i, timing := range []string{"=80x24>1", "=80x24>1=90x30>1", "=90x30>1"} {
		pkts, err := d.Decode(&ParsedMessage{ID: uint64(i + 1), Timing: timing, OutTxt: "abc"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			kinds = append(kinds, p.Kind.String())
		}
	}
	want := "window output output window output output"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestDecoderErrorKeepsState(t *testing.T) {
	d := &Decoder{}
	if _, err := d.Decode(&ParsedMessage{ID: 1, Timing: ">1", OutTxt: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(&ParsedMessage{ID: 2, Timing: "0"}); err == nil {
		t.Fatal("bad timing accepted")
	}
	if _, err := d.Decode(&ParsedMessage{ID: 2, Timing: ">1", OutTxt: "a"}); err != nil {
		t.Fatalf("the failed message moved the state on: %v", err)
	}
}

// FuzzParseMessage: malformed input gives an error, never a panic; what parses decodes its
// timing without panicking, and packets stay within the message's data.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(goldenLine))
	f.Add([]byte(goodID7))
	f.Add([]byte(msg()))
	f.Add([]byte(msg(`"timing":"]1/2[1/1=80x24+5<1"`, `"out_txt":"\uFFFDa"`, `"out_bin":[1,2]`, `"in_txt":"\uFFFD"`, `"in_bin":[3]`)))
	f.Add([]byte(`{"ver":2,"timing":"0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		pkts, err := m.Packets()
		if err != nil {
			return
		}
		total := 0
		for _, p := range pkts {
			total += len(p.Data)
			if p.Time < m.Pos {
				t.Fatalf("packet before pos: %+v", p)
			}
		}
		if total > len(m.InTxt)+len(m.OutTxt)+len(m.InBin)+len(m.OutBin) {
			t.Fatalf("more packet data than the message holds")
		}
		d := &Decoder{}
		_, _ = d.Decode(m)
	})
}
