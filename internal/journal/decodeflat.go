package journal

import (
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFlat is DecodeEntry's fast path for the lines journalctl -o json writes: one flat
// object whose values are strings, null, or arrays (byte arrays and repeated fields).
// String values are unescaped in place of encoding/json's reflection-driven decoder,
// which spent most of `recctl list`'s time (one map and one Unmarshal per field, twice
// scanning every byte). ok is false for anything it does not handle exactly as
// encoding/json would (invalid JSON, invalid UTF-8, a lone surrogate, raw control
// characters): DecodeEntry then decodes the line the general way, which also gives the
// error. The line is never modified. Values without escapes share its memory (each line
// journal.Reader reads is a fresh slice); unescaped values share one buffer per line.
func decodeFlat(line []byte) (Entry, bool) {
	p := flatParser{b: line}
	p.ws()
	if !p.eat('{') {
		return nil, false
	}
	e := make(Entry, 32)
	p.ws()
	if p.eat('}') {
		return e, p.end()
	}
	for {
		p.ws()
		name, ok := p.key()
		if !ok {
			return nil, false
		}
		p.ws()
		if !p.eat(':') {
			return nil, false
		}
		p.ws()
		if p.i >= len(p.b) {
			return nil, false
		}
		switch p.b[p.i] {
		case '"':
			v, ok := p.str()
			if !ok {
				return nil, false
			}
			e[name] = [][]byte{v}
		case 'n':
			if len(p.b)-p.i < 4 || string(p.b[p.i:p.i+4]) != "null" {
				return nil, false
			}
			p.i += 4
			delete(e, name) // as encoding/json: a later null replaces an earlier value
		case '[':
			raw, ok := p.array()
			if !ok {
				return nil, false
			}
			vals, err := decodeValue(raw)
			if err != nil {
				return nil, false
			}
			if vals == nil {
				delete(e, name)
			} else {
				e[name] = vals
			}
		default:
			return nil, false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return e, p.end()
		}
		return nil, false
	}
}

type flatParser struct {
	b   []byte
	i   int
	out []byte // unescaped values, allocated once with room for all of them
}

func (p *flatParser) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *flatParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *flatParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// key reads a field name: a JSON string without escapes (journal field names are
// [A-Z0-9_]; anything else goes the general way).
func (p *flatParser) key() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			k := string(p.b[start:p.i])
			p.i++
			return k, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
		p.i++
	}
	return "", false
}

// str reads a JSON string and returns its value: a sub-slice of the line when it has no
// escapes, else the unescaped bytes appended to p.out.
func (p *flatParser) str() ([]byte, bool) {
	p.i++ // the opening quote
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			v := p.b[start:p.i:p.i]
			p.i++
			if !ascii && !utf8.Valid(v) {
				return nil, false // encoding/json would replace invalid UTF-8 by U+FFFD
			}
			return v, true
		case c == '\\':
			return p.strEscaped(start, ascii)
		case c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// strEscaped continues str at the first backslash, at p.i, writing the value into p.out.
// p.out's capacity is the line's length, and no value is longer unescaped than escaped,
// so appending never moves the values already returned.
func (p *flatParser) strEscaped(start int, ascii bool) ([]byte, bool) {
	if p.out == nil {
		p.out = make([]byte, 0, len(p.b))
	}
	o := len(p.out)
	p.out = append(p.out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			v := p.out[o:len(p.out):len(p.out)]
			p.i++
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			return v, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			if c >= 0x80 {
				ascii = false
			}
			p.out = append(p.out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return nil, false
		}
		esc := p.b[p.i+1]
		p.i += 2
		switch esc {
		case '"', '\\', '/':
			p.out = append(p.out, esc)
		case 'b':
			p.out = append(p.out, '\b')
		case 'f':
			p.out = append(p.out, '\f')
		case 'n':
			p.out = append(p.out, '\n')
		case 'r':
			p.out = append(p.out, '\r')
		case 't':
			p.out = append(p.out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				// A pair \uD8xx\uDCxx is one character; a lone surrogate goes the general way.
				if p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return nil, false
				}
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return nil, false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, false
				}
			}
			if r >= 0x80 {
				ascii = false
			}
			p.out = utf8.AppendRune(p.out, r) // at most 4 bytes for the 6 or 12 read
		default:
			return nil, false
		}
	}
	return nil, false
}

func (p *flatParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

// array returns the raw bytes of the array at p.i (its brackets included), for
// decodeValue. Strings inside are skipped without being decoded.
func (p *flatParser) array() ([]byte, bool) {
	start := p.i
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				p.i++
				return p.b[start:p.i], true
			}
		case '"':
			p.i++
			for p.i < len(p.b) && p.b[p.i] != '"' {
				if p.b[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
			if p.i >= len(p.b) {
				return nil, false
			}
		}
		p.i++
	}
	return nil, false
}
