package recording

import (
	"bytes"
	"io"
	"strings"
)

// Stripper turns terminal output into plain text: it drops escape sequences (CSI, OSC,
// DCS and other strings, charset designations, single-character escapes) and control
// characters except newline and tab, and turns CR LF into LF. Its state carries across
// writes, so a sequence split between two packets is still removed.
type Stripper struct {
	W     io.Writer
	state stripState
	cr    bool // a CR is pending (dropped unless LF follows: then LF)
	buf   []byte
}

type stripState uint8

const (
	stGround    stripState = iota
	stEsc                  // after ESC
	stEscInter             // ESC followed by intermediate bytes (charset designation etc.)
	stCSI                  // ESC [
	stString               // OSC, DCS, SOS, PM, APC: until BEL or ST
	stStringEsc            // ESC inside a string (ST is ESC \)
)

// Write strips p and writes the text to s.W.
func (s *Stripper) Write(p []byte) (int, error) {
	s.buf = s.buf[:0]
	for _, c := range p {
		switch s.state {
		case stGround:
			switch {
			case c == 0x1b:
				s.state = stEsc
			case c == '\n':
				s.buf = append(s.buf, '\n')
				s.cr = false
			case c == '\r':
				s.cr = true
			case c == '\t':
				s.buf = append(s.buf, '\t')
			case c < 0x20 || c == 0x7f:
				// other controls: BEL, BS, SO/SI…
			default:
				s.buf = append(s.buf, c)
			}
			if c != '\r' && c != '\n' && c != 0x1b {
				s.cr = false
			}
		case stEsc:
			switch {
			case c == '[':
				s.state = stCSI
			case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
				s.state = stString
			case c >= 0x20 && c <= 0x2f:
				s.state = stEscInter
			case c == 0x1b:
				// ESC ESC: start again
			case c == 0x18 || c == 0x1a:
				s.state = stGround
			default:
				s.state = stGround // a final byte: ESC 7, ESC c, ESC M…
			}
		case stEscInter:
			if c < 0x20 || c > 0x2f {
				s.state = stGround
			}
		case stCSI:
			switch {
			case c >= 0x40 && c <= 0x7e:
				s.state = stGround
			case c == 0x18 || c == 0x1a:
				s.state = stGround
			case c == 0x1b:
				s.state = stEsc
			}
		case stString:
			switch c {
			case 0x07, 0x18, 0x1a:
				s.state = stGround
			case 0x1b:
				s.state = stStringEsc
			}
		case stStringEsc:
			if c == '\\' {
				s.state = stGround
			} else if c != 0x1b {
				s.state = stString
			}
		}
	}
	if len(s.buf) > 0 {
		if _, err := s.W.Write(s.buf); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// StripString strips a whole output at once.
func StripString(b []byte) string {
	var out bytes.Buffer
	s := &Stripper{W: &out}
	_, _ = s.Write(b)
	return out.String()
}

// grepper looks for a text in a stream of output, escape sequences stripped; a pattern
// without upper-case letters matches case-insensitively (as journalctl --grep does).
type grepper struct {
	pat    []byte
	fold   bool
	tail   []byte // the last len(pat)-1 bytes of text, for matches across packets
	found  bool
	strip  *Stripper
	text   bytes.Buffer
	origin string
}

func newGrepper(pattern string) *grepper {
	g := &grepper{origin: pattern, fold: strings.ToLower(pattern) == pattern}
	g.pat = []byte(pattern)
	if g.fold {
		g.pat = bytes.ToLower(g.pat)
	}
	g.strip = &Stripper{W: &g.text}
	return g
}

// reset returns a fresh grepper for the same pattern (nil stays nil).
func (g *grepper) reset() *grepper {
	if g == nil {
		return nil
	}
	return newGrepper(g.origin)
}

func (g *grepper) write(p []byte) {
	if g.found {
		return
	}
	g.text.Reset()
	g.text.Write(g.tail)
	_, _ = g.strip.Write(p)
	t := g.text.Bytes()
	if g.fold {
		t = bytes.ToLower(t)
	}
	if bytes.Contains(t, g.pat) {
		g.found = true
		return
	}
	keep := len(g.pat) - 1
	if keep > len(t) {
		keep = len(t)
	}
	g.tail = append(g.tail[:0], t[len(t)-keep:]...)
}
