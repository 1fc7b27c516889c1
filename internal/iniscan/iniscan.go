// Package iniscan classifies the lines of INI text the way gopkg.in/ini.v1
// reads them, so that callers can report line numbers (which go-ini does not
// keep) and edit files line by line.
//
// The scanner mirrors go-ini with continuation lines ignored and inline
// comments disabled: a line whose first non-space byte is '#' or ';' is a
// comment, '[' starts a section header that ends at the last ']', anything
// else is "key <delim> value". Values that go-ini treats as quoted
// multi-line values (starting with `"""` or a backtick) are recognised, and
// the lines they swallow are marked as continuation lines.
package iniscan

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
)

// DefaultSection is the name go-ini gives the keys that precede any section
// header.
const DefaultSection = "DEFAULT"

// Kind says what a line is.
type Kind int

// The kinds of line.
const (
	Blank        Kind = iota // empty or only white space
	Comment                  // starts with '#' or ';'
	Section                  // [name]
	Key                      // key = value
	Continuation             // swallowed by a quoted multi-line value
	Invalid                  // something go-ini rejects (see Line.Problem)
)

// Line is one classified line of INI text.
type Line struct {
	Num     int    // 1-based line number
	Text    string // the raw line, without its line ending
	Kind    Kind   // what the line is
	Section string // the section the line is in (DefaultSection before any header)
	// Name is the section name of a Section line, or the key name of a Key
	// line, as go-ini reports it.
	Name string
	// Value is the trimmed text after the delimiter of a Key line.
	Value string
	// Quoted is set on a Key line whose value go-ini reads as quoted with
	// `"""` or a backtick (possibly spanning lines).
	Quoted bool
	// QuotedName is set on a Key line whose key name is quoted.
	QuotedName bool
	// Trailing is set on a Section line with text after the closing ']'
	// that is not a comment (go-ini ignores it).
	Trailing bool
	// Problem explains an Invalid line.
	Problem string
}

// Scan classifies every line of data. delimiters are the key/value
// delimiters configured in go-ini (for example "=").
func Scan(data []byte, delimiters string) []Line {
	if delimiters == "" {
		delimiters = "=:"
	}
	data = stripBOM(data)
	raw := strings.Split(string(data), "\n")
	if len(raw) > 0 && raw[len(raw)-1] == "" {
		raw = raw[:len(raw)-1]
	}
	lines := make([]Line, 0, len(raw))
	section := DefaultSection
	count := 1
	for i := 0; i < len(raw); i++ {
		text := strings.TrimSuffix(raw[i], "\r")
		l := Line{Num: i + 1, Text: text, Section: section}
		s := strings.TrimLeftFunc(raw[i], unicode.IsSpace)
		switch {
		case s == "":
			l.Kind = Blank
		case s[0] == '#' || s[0] == ';':
			l.Kind = Comment
		case s[0] == '[':
			closeIdx := strings.LastIndexByte(s, ']')
			switch {
			case closeIdx == -1:
				l.Kind, l.Problem = Invalid, "unclosed section header"
			case closeIdx == 1:
				l.Kind, l.Problem = Invalid, "empty section name"
			default:
				l.Kind, l.Name = Section, s[1:closeIdx]
				rest := strings.TrimSpace(s[closeIdx+1:])
				if rest != "" && rest[0] != '#' && rest[0] != ';' {
					l.Trailing = true
				}
				section, count = l.Name, 1
				l.Section = section
			}
		default:
			name, off, quotedName, problem := keyName(delimiters, s)
			if problem != "" {
				l.Kind, l.Problem = Invalid, problem
				break
			}
			if name == "-" {
				name = "#" + strconv.Itoa(count)
				count++
			}
			l.Kind, l.Name, l.QuotedName = Key, name, quotedName
			v := strings.TrimLeftFunc(s[off:], unicode.IsSpace)
			var q string
			if len(v) > 3 && v[:3] == `"""` {
				q = `"""`
			} else if v != "" && v[0] == '`' {
				q = "`"
			}
			if q != "" {
				l.Quoted = true
				if !strings.Contains(v[len(q):], q) {
					// go-ini reads on until a line containing the quote.
					lines = append(lines, l)
					for i+1 < len(raw) {
						i++
						lines = append(lines, Line{Num: i + 1, Text: strings.TrimSuffix(raw[i], "\r"), Kind: Continuation, Section: section})
						if strings.Contains(raw[i], q) {
							break
						}
					}
					continue
				}
			}
			l.Value = strings.TrimSpace(v)
		}
		lines = append(lines, l)
	}
	return lines
}

func stripBOM(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:]
	case len(data) >= 2 && (data[0] == 0xFE && data[1] == 0xFF || data[0] == 0xFF && data[1] == 0xFE):
		return data[2:]
	}
	return data
}

// keyName mirrors go-ini's readKeyName.
func keyName(delimiters, line string) (name string, offset int, quoted bool, problem string) {
	var q string
	switch line[0] {
	case '"':
		if len(line) > 6 && line[0:3] == `"""` {
			q = `"""`
		} else {
			q = `"`
		}
	case '`':
		q = "`"
	}
	if q != "" {
		start := len(q)
		pos := strings.Index(line[start:], q)
		if pos == -1 {
			return "", 0, true, "missing closing quote of key name"
		}
		pos += start
		i := strings.IndexAny(line[pos+start:], delimiters)
		if i < 0 {
			return "", 0, true, "expected \"key = value\""
		}
		return strings.TrimSpace(line[start:pos]), pos + i + start + 1, true, ""
	}
	end := strings.IndexAny(line, delimiters)
	if end < 0 {
		return "", 0, false, "expected \"key = value\""
	}
	if end == 0 {
		return "", 0, false, "empty key name"
	}
	return strings.TrimSpace(line[:end]), end + 1, false, ""
}

// Index finds where sections and keys are, as go-ini resolves them: a
// section that appears several times is one section, and of a key that
// appears several times in a section the last one counts.
type Index struct {
	sections map[string]int
	keys     map[[2]string]int
}

// NewIndex indexes scanned lines.
func NewIndex(lines []Line) *Index {
	ix := &Index{sections: map[string]int{}, keys: map[[2]string]int{}}
	for _, l := range lines {
		switch l.Kind {
		case Section:
			if _, ok := ix.sections[l.Name]; !ok {
				ix.sections[l.Name] = l.Num
			}
		case Key:
			ix.keys[[2]string{l.Section, l.Name}] = l.Num
		}
	}
	return ix
}

// SectionLine returns the line of the first header of section, or 0.
func (ix *Index) SectionLine(section string) int { return ix.sections[section] }

// KeyLine returns the line of the last occurrence of key in section, or 0.
func (ix *Index) KeyLine(section, key string) int { return ix.keys[[2]string{section, key}] }
