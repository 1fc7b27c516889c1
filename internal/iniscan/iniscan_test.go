package iniscan

import (
	"strings"
	"testing"

	"gopkg.in/ini.v1"
)

func TestIndexMatchesGoIni(t *testing.T) {
	// go-ini keeps the last value of a duplicate key, and merges repeated
	// sections; the index must point at the line that value came from.
	text := "a = 0\n[s]\nk = 1\n# k = c\nk = 2\n[t]\nk = x\n[s]\n  k = 3\nother = `multi\nk = 4\n`\n"
	lines := Scan([]byte(text), "=")
	ix := NewIndex(lines)
	f, err := ini.LoadSources(ini.LoadOptions{KeyValueDelimiters: "=", IgnoreInlineComment: true, IgnoreContinuation: true}, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Section("s").Key("k").Value(); v != "3" {
		t.Fatalf("go-ini value %q", v)
	}
	tests := []struct {
		section, key string
		line         int
	}{
		{"s", "k", 9}, {"t", "k", 7}, {DefaultSection, "a", 1}, {"s", "other", 10}, {"s", "missing", 0},
	}
	for _, tt := range tests {
		if got := ix.KeyLine(tt.section, tt.key); got != tt.line {
			t.Errorf("KeyLine(%s, %s) = %d, want %d", tt.section, tt.key, got, tt.line)
		}
	}
	if ix.SectionLine("s") != 2 || ix.SectionLine("t") != 6 {
		t.Errorf("section lines %d %d", ix.SectionLine("s"), ix.SectionLine("t"))
	}
	if lines[10].Kind != Continuation || lines[11].Kind != Continuation {
		t.Errorf("multi-line value not marked: %+v", lines[10:])
	}
}

func TestInvalidLines(t *testing.T) {
	tests := []struct{ line, problem string }{
		{"[unclosed", "unclosed section header"},
		{"[]", "empty section name"},
		{"no delimiter", "expected"},
		{"= value", "empty key name"},
		{"key: value", "expected"},
	}
	for _, tt := range tests {
		l := Scan([]byte(tt.line+"\n"), "=")[0]
		if l.Kind != Invalid || !strings.Contains(l.Problem, tt.problem) {
			t.Errorf("%q: %+v", tt.line, l)
		}
	}
}
