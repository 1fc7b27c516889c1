package journal

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeGeneric is DecodeEntry without its fast path.
func decodeGeneric(line []byte) (Entry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, err
	}
	e := make(Entry, len(raw))
	for name, v := range raw {
		vals, err := decodeValue(v)
		if err != nil {
			return nil, err
		}
		if vals != nil {
			e[name] = vals
		}
	}
	return e, nil
}

var flatCases = []string{
	`{}`,
	` { "A" : "x" , "B":"" } `,
	`{"MESSAGE":"a\"b\\c\n\u001b\/\b\f\r\t end"}`,
	`{"MESSAGE":"{\"ver\":\"2.3\",\"out_txt\":\"h\u00e9llo\\r\\n\\u001b[0m\"}\n"}`,
	`{"U":"héllo 字 😀","E":"\u00e9\u5b57\ud83d\ude00"}`,
	`{"B":[255,0,97],"R":["a","b"],"M":["a",[255]],"BB":[[1],[2,3]],"Z":[]}`,
	`{"N":null,"A":"x"}`,
	`{"A":"x","A":"y"}`,
	`{"A":"x","A":null}`,
	`{"A":"x","A":[]}`,
	`{"S":"[\"]\"]","T":["]","[",["x"]]}`,
	// The general way: errors, and what encoding/json replaces.
	`{"B":[256]}`, `{"B":5}`, `{"B":true}`, `{"B":`, `{"B":"x"`, `{"B":"x",}`, `{"B":"x"} x`, `[]`, `"x"`, ``,
	`{"L":"\ud83d"}`, `{"L":"\ude00\ud83d"}`, `{"L":"\ud83dx"}`, `{"L":"\u12"}`, `{"L":"\q"}`,
	"{\"C\":\"tab\there\"}", "{\"I\":\"\xff\xfe\"}", "{\"I\":\"a\\n\xff\"}", `{"K\u0041":"x"}`, "{\"K\xc3\xa9\":\"x\"}",
}

// The fast path gives exactly what encoding/json gives, or leaves the line to it.
func TestDecodeFlatMatchesGeneric(t *testing.T) {
	for _, c := range flatCases {
		checkFlat(t, []byte(c))
	}
}

func checkFlat(t *testing.T, line []byte) {
	t.Helper()
	orig := string(line)
	want, werr := decodeGeneric(line)
	got, ok := decodeFlat(line)
	if string(line) != orig {
		t.Fatalf("%q: decodeFlat modified the line to %q", orig, line)
	}
	if ok && werr != nil {
		t.Fatalf("%q: fast path accepted what encoding/json rejects (%v): %q", orig, werr, got)
	}
	if ok && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: fast path %q, encoding/json %q", orig, got, want)
	}
	full, err := DecodeEntry(line)
	if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(full, want)) {
		t.Fatalf("%q: DecodeEntry %q %v, encoding/json %q %v", orig, full, err, want, werr)
	}
}

// The fast path takes the common lines itself (else it would not be worth having).
func TestDecodeFlatTakesJournalctlLines(t *testing.T) {
	for _, c := range []string{flatCases[0], flatCases[1], flatCases[2], flatCases[3], flatCases[4], flatCases[5], flatCases[10]} {
		if _, ok := decodeFlat([]byte(c)); !ok {
			t.Errorf("%s: not taken by the fast path", c)
		}
	}
}

func FuzzDecodeFlat(f *testing.F) {
	for _, c := range flatCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkFlat(t, line) })
}

func BenchmarkDecodeEntry(b *testing.B) {
	line := []byte(`{"__CURSOR":"s=5b1a2c3d4e5f;i=1a2b;b=0123456789abcdef0123456789abcdef;m=e78cab7b;t=660f692d79473;x=955ee10bf37183b",` +
		`"__REALTIME_TIMESTAMP":"1795461857099000","_BOOT_ID":"0123456789abcdef0123456789abcdef","_UID":"0","_COMM":"tlog-rec-sessio",` +
		`"RECD_REC":"0123456789abcdef0123456789abcdef-8c-5b4dd","RECD_EVENT":"message","RECD_ENTRY":"42","TLOG_ID":"41",` +
		`"MESSAGE":"{\"ver\":\"2.3\",\"host\":\"web1\",\"rec\":\"0123456789abcdef0123456789abcdef-8c-5b4dd\",\"user\":\"alice\",` +
		`\"term\":\"xterm\",\"session\":7,\"id\":41,\"pos\":81234,\"time\":1795461857.099,\"timing\":\"=120x40>300+12>250\",` +
		`\"in_txt\":\"\",\"in_bin\":[],\"out_txt\":\"2026-11-21T10:11:12.345Z INFO [worker-7] request id=8f3a took 123ms\\r\\n` +
		`\\u001b[01;34mdir\\u001b[0m  \\u001b[01;32mscript.sh\\u001b[0m\\r\\n\",\"out_bin\":[]}\n"}`)
	for _, mode := range []string{"fast", "generic"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i++ {
				var err error
				if mode == "fast" {
					_, err = DecodeEntry(line)
				} else {
					_, err = decodeGeneric(line)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
