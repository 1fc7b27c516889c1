package tlog

// This file is the reader half of package tlog: it parses tlog JSON messages as tlog-play
// does (lib/tlog/json_msg.c), turns their "timing" into packets and checks a sequence of
// messages the way tlog-play's json_source.c does. shared/tlog-format.md §1 and §4 are the
// specification.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxDelayMS is the largest pos or delay, in milliseconds, a reader accepts (tlog's
// TLOG_DELAY_MAX_MS_NUM).
const MaxDelayMS = 2147483647999

// ParsedMessage is one tlog JSON message as a reader sees it. The text fields hold the
// decoded JSON strings; InBin and OutBin hold the bytes of the *_bin arrays.
type ParsedMessage struct {
	VerMajor, VerMinor uint64
	Host               string
	Rec                string // "" when absent (it is optional)
	User, Term         string
	Session            uint32
	ID                 uint64
	Pos                int64   // ms from the recording's first packet to this message's first packet
	Time               float64 // wall clock of the first packet, s; 0 when absent (format < 2.3)
	HasTime            bool
	Timing             string
	InTxt, OutTxt      string
	InBin, OutBin      []byte
}

// ParseError says what is wrong with a message; Field is the JSON key at fault ("" when the
// message is not a JSON object at all).
type ParseError struct {
	Field   string
	Problem string
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return "invalid tlog message: " + e.Problem
	}
	return fmt.Sprintf("invalid tlog message: %q field: %s", e.Field, e.Problem)
}

func perr(field, format string, args ...any) error {
	return &ParseError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// ParseMessage parses one tlog JSON message. It accepts what tlog-play accepts: "ver" as a
// string or an integer with major version ≤ 2, optional "rec", "time", "in_txt" and
// "out_txt", and a trailing newline; everything else that is malformed is an error naming
// the field. The timing string is checked by Packets, not here.
func ParseMessage(data []byte) (*ParsedMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return nil, perr("", "not a JSON object: %v", err)
	}
	if obj == nil {
		return nil, perr("", "not a JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, perr("", "data after the JSON object")
	}
	m := &ParsedMessage{}
	var err error

	raw, ok := obj["ver"]
	if !ok {
		return nil, perr("ver", "missing")
	}
	var ver string
	switch {
	case isString(raw):
		_ = json.Unmarshal(raw, &ver)
	case isInteger(raw):
		ver = string(raw)
	default:
		return nil, perr("ver", "must be a string or an integer, not %s", kind(raw))
	}
	if m.VerMajor, m.VerMinor, err = parseVer(ver); err != nil {
		return nil, perr("ver", "%v", err)
	}

	if m.Host, err = reqString(obj, "host"); err != nil {
		return nil, err
	}
	if raw, ok := obj["rec"]; ok {
		if m.Rec, err = asString("rec", raw); err != nil {
			return nil, err
		}
	}
	if m.User, err = reqString(obj, "user"); err != nil {
		return nil, err
	}
	if m.Term, err = reqString(obj, "term"); err != nil {
		return nil, err
	}
	s, err := reqInt(obj, "session", 1, 4294967295)
	if err != nil {
		return nil, err
	}
	m.Session = uint32(s)
	id, err := reqInt(obj, "id", 0, 1<<63-1)
	if err != nil {
		return nil, err
	}
	m.ID = uint64(id)
	if m.Pos, err = reqInt(obj, "pos", 0, MaxDelayMS); err != nil {
		return nil, err
	}
	if raw, ok := obj["time"]; ok {
		if !isNumber(raw) {
			return nil, perr("time", "must be a number, not %s", kind(raw))
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f < 0 {
			return nil, perr("time", "invalid value %s", raw)
		}
		m.Time, m.HasTime = f, true
	}
	if m.Timing, err = reqString(obj, "timing"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"in_txt", &m.InTxt}, {"out_txt", &m.OutTxt}} {
		if raw, ok := obj[f.name]; ok {
			if *f.dst, err = asString(f.name, raw); err != nil {
				return nil, err
			}
		}
	}
	if m.InBin, err = reqBytes(obj, "in_bin"); err != nil {
		return nil, err
	}
	if m.OutBin, err = reqBytes(obj, "out_bin"); err != nil {
		return nil, err
	}
	return m, nil
}

// parseVer parses "MAJOR" or "MAJOR.MINOR" (tlog's sscanf "%u%n.%u%n") and requires a
// major version this reader understands.
func parseVer(v string) (major, minor uint64, err error) {
	maj, min, dotted := strings.Cut(v, ".")
	if !allDigits(maj) || (dotted && !allDigits(min)) {
		return 0, 0, fmt.Errorf("invalid version %q", v)
	}
	major, err1 := strconv.ParseUint(maj, 10, 32)
	if dotted {
		var err2 error
		if minor, err2 = strconv.ParseUint(min, 10, 32); err2 != nil {
			err1 = err2
		}
	}
	if err1 != nil {
		return 0, 0, fmt.Errorf("invalid version %q", v)
	}
	if major > 2 {
		return 0, 0, fmt.Errorf("unsupported version %q (major version must be 2 or less)", v)
	}
	return major, minor, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

// isInteger reports whether raw is a JSON number without fraction or exponent, which
// json-c (tlog's parser) types as int.
func isInteger(raw json.RawMessage) bool {
	return isNumber(raw) && !bytes.ContainsAny(raw, ".eE")
}

func kind(raw json.RawMessage) string {
	switch {
	case len(raw) == 0:
		return "empty"
	case raw[0] == '"':
		return "a string"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "an array"
	case raw[0] == 't' || raw[0] == 'f':
		return "a boolean"
	case raw[0] == 'n':
		return "null"
	case isInteger(raw):
		return "an integer"
	default:
		return "a number with a fraction"
	}
}

func asString(name string, raw json.RawMessage) (string, error) {
	if !isString(raw) {
		return "", perr(name, "must be a string, not %s", kind(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", perr(name, "%v", err)
	}
	return s, nil
}

func reqString(obj map[string]json.RawMessage, name string) (string, error) {
	raw, ok := obj[name]
	if !ok {
		return "", perr(name, "missing")
	}
	return asString(name, raw)
}

func reqInt(obj map[string]json.RawMessage, name string, min, max int64) (int64, error) {
	raw, ok := obj[name]
	if !ok {
		return 0, perr(name, "missing")
	}
	if !isInteger(raw) {
		return 0, perr(name, "must be an integer, not %s", kind(raw))
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v < min || v > max {
		return 0, perr(name, "value %s out of range %d..%d", raw, min, max)
	}
	return v, nil
}

func reqBytes(obj map[string]json.RawMessage, name string) ([]byte, error) {
	raw, ok := obj[name]
	if !ok {
		return nil, perr(name, "missing")
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, perr(name, "must be an array of bytes, not %s", kind(raw))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, perr(name, "%v", err)
	}
	out := make([]byte, len(elems))
	for i, e := range elems {
		if !isInteger(e) {
			return nil, perr(name, "element %d must be an integer 0..255, not %s", i, kind(e))
		}
		v, err := strconv.ParseInt(string(e), 10, 64)
		if err != nil || v < 0 || v > 255 {
			return nil, perr(name, "element %d: %s is not a byte (0..255)", i, e)
		}
		out[i] = byte(v)
	}
	return out, nil
}

// PacketKind says what a packet carries.
type PacketKind uint8

// Packet kinds.
const (
	PacketOutput PacketKind = iota + 1 // terminal output (what the user saw)
	PacketInput                        // terminal input (what the user typed, when logged)
	PacketWindow                       // a window size: Cols x Rows
)

func (k PacketKind) String() string {
	switch k {
	case PacketOutput:
		return "output"
	case PacketInput:
		return "input"
	case PacketWindow:
		return "window"
	}
	return "packet(" + strconv.Itoa(int(k)) + ")"
}

// Packet is one unit of a recording: I/O bytes or a window size, at a time in milliseconds
// since the recording's first packet (the message's pos plus the delays before it).
type Packet struct {
	Kind       PacketKind
	Time       int64
	Data       []byte // I/O bytes, exactly as recorded (PacketOutput, PacketInput)
	Cols, Rows uint16 // PacketWindow
}

// TimingError says where a message's "timing" string is wrong.
type TimingError struct {
	Offset  int // byte offset in the timing string
	Problem string
}

func (e *TimingError) Error() string {
	return fmt.Sprintf(`invalid tlog message: "timing" field: %s at offset %d`, e.Problem, e.Offset)
}

// utf8Len is tlog's lead-byte length (json_msg.c tlog_json_msg_utf8_len): 0 for a byte that
// cannot start a character.
func utf8Len(b byte) int {
	switch {
	case b&0x80 == 0:
		return 1
	case b&0xe0 == 0xc0:
		return 2
	case b&0xf0 == 0xe0:
		return 3
	case b&0xf8 == 0xf0:
		return 4
	}
	return 0
}

// ioCursor walks one direction's text and binary data.
type ioCursor struct {
	txt    string
	bin    []byte
	name   string // "in" or "out"
	binPos int
}

// chars takes n characters from the text (counted as tlog counts them: by lead byte).
func (c *ioCursor) chars(n uint64) (string, error) {
	i := 0
	for ; n > 0; n-- {
		if i >= len(c.txt) {
			return "", fmt.Errorf("%s_txt is too short for the timing", c.name)
		}
		l := utf8Len(c.txt[i])
		if l == 0 {
			return "", fmt.Errorf("%s_txt has an invalid UTF-8 lead byte", c.name)
		}
		if i+l > len(c.txt) {
			return "", fmt.Errorf("%s_txt ends inside a character", c.name)
		}
		i += l
	}
	s := c.txt[:i]
	c.txt = c.txt[i:]
	return s, nil
}

func (c *ioCursor) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(c.bin)-c.binPos) {
		return nil, fmt.Errorf("%s_bin is too short for the timing", c.name)
	}
	b := c.bin[c.binPos : c.binPos+int(n)]
	c.binPos += int(n)
	return b, nil
}

// Packets decodes the message's timing into packets with absolute times (Pos plus the
// cumulative delays). Consecutive I/O of one direction without a delay or window between
// them forms one packet. "[r/b" and "]r/b" skip r characters of *_txt and take b raw
// bytes from *_bin. Whitespace between records is allowed; +0 and zero counts are ignored;
// text or bytes left over after the timing are not an error (as in tlog-play).
func (m *ParsedMessage) Packets() ([]Packet, error) {
	t := m.Pos
	in := &ioCursor{txt: m.InTxt, bin: m.InBin, name: "in"}
	out := &ioCursor{txt: m.OutTxt, bin: m.OutBin, name: "out"}
	var pkts []Packet
	// open is true while the last packet may still grow (no delay or window since).
	open := false
	add := func(kind PacketKind, data []byte) {
		if len(data) == 0 {
			return
		}
		if open && len(pkts) > 0 && pkts[len(pkts)-1].Kind == kind {
			last := &pkts[len(pkts)-1]
			last.Data = append(last.Data, data...)
			return
		}
		pkts = append(pkts, Packet{Kind: kind, Time: t, Data: append([]byte(nil), data...)})
		open = true
	}
	s := m.Timing
	i := 0
	num := func() (uint64, error) {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if start == i {
			return 0, &TimingError{Offset: start, Problem: "expected a number"}
		}
		v, err := strconv.ParseUint(s[start:i], 10, 64)
		if err != nil {
			return 0, &TimingError{Offset: start, Problem: "number too large"}
		}
		return v, nil
	}
	for {
		for i < len(s) && strings.IndexByte(" \f\n\r\t\v", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			break
		}
		recStart := i
		typ := s[i]
		if strings.IndexByte("+<>[]=", typ) < 0 {
			return nil, &TimingError{Offset: i, Problem: fmt.Sprintf("unexpected character %q", typ)}
		}
		i++
		first, err := num()
		if err != nil {
			return nil, err
		}
		var second uint64
		switch typ {
		case '[', ']', '=':
			sep := byte('/')
			if typ == '=' {
				sep = 'x'
			}
			if i >= len(s) || s[i] != sep {
				return nil, &TimingError{Offset: i, Problem: fmt.Sprintf("expected %q", sep)}
			}
			i++
			if second, err = num(); err != nil {
				return nil, err
			}
		}
		switch typ {
		case '+':
			if first > MaxDelayMS {
				return nil, &TimingError{Offset: recStart, Problem: "delay too large"}
			}
			if first > 0 {
				t += int64(first)
				open = false
			}
		case '=':
			if first > 65535 || second > 65535 {
				return nil, &TimingError{Offset: recStart, Problem: "window size too large"}
			}
			pkts = append(pkts, Packet{Kind: PacketWindow, Time: t, Cols: uint16(first), Rows: uint16(second)})
			open = false
		case '<', '>':
			c, kind := in, PacketInput
			if typ == '>' {
				c, kind = out, PacketOutput
			}
			txt, err := c.chars(first)
			if err != nil {
				return nil, &TimingError{Offset: recStart, Problem: err.Error()}
			}
			add(kind, []byte(txt))
		case '[', ']':
			c, kind := in, PacketInput
			if typ == ']' {
				c, kind = out, PacketOutput
			}
			if _, err := c.chars(first); err != nil {
				return nil, &TimingError{Offset: recStart, Problem: err.Error()}
			}
			b, err := c.bytes(second)
			if err != nil {
				return nil, &TimingError{Offset: recStart, Problem: err.Error()}
			}
			add(kind, b)
		}
	}
	return pkts, nil
}

// Errors of a message sequence (Decoder), for errors.Is.
var (
	ErrIDOrder   = errors.New("message ID is out of order")
	ErrTimeOrder = errors.New("packet timestamp is out of order")
)

// Decoder checks a sequence of messages of one recording and returns their packets, as
// tlog-play reads a source: in strict mode every message after the first must have
// id = previous id + 1, with Lax only id > previous id (gaps from dropped messages are
// tolerated); packet times never go backwards; a window equal to the one in force is
// dropped (each message restates it).
type Decoder struct {
	Lax bool

	started  bool
	lastID   uint64
	lastTime int64
	haveWin  bool
	cols     uint16
	rows     uint16
}

// Decode checks m against the messages before it and returns its packets. After an error
// the Decoder's state is unchanged, so a caller may report and skip the message.
func (d *Decoder) Decode(m *ParsedMessage) ([]Packet, error) {
	if d.started {
		switch {
		case !d.Lax && m.ID != d.lastID+1:
			return nil, fmt.Errorf("%w: id %d after id %d (expected %d)", ErrIDOrder, m.ID, d.lastID, d.lastID+1)
		case d.Lax && m.ID <= d.lastID:
			return nil, fmt.Errorf("%w: id %d after id %d", ErrIDOrder, m.ID, d.lastID)
		}
	}
	pkts, err := m.Packets()
	if err != nil {
		return nil, err
	}
	last := d.lastTime
	if !d.started {
		last = 0
	}
	for _, p := range pkts {
		if p.Time < last {
			return nil, fmt.Errorf("%w: message id %d has a packet at %d ms after one at %d ms", ErrTimeOrder, m.ID, p.Time, last)
		}
		last = p.Time
	}
	out := pkts[:0]
	haveWin, cols, rows := d.haveWin, d.cols, d.rows
	for _, p := range pkts {
		if p.Kind == PacketWindow {
			if haveWin && p.Cols == cols && p.Rows == rows {
				continue
			}
			haveWin, cols, rows = true, p.Cols, p.Rows
		}
		out = append(out, p)
	}
	d.started, d.lastID, d.lastTime = true, m.ID, last
	d.haveWin, d.cols, d.rows = haveWin, cols, rows
	return out, nil
}
