package recording

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/recd-dev/recd/internal/tlog"
)

// Export formats.
const (
	FormatAsciicast = "asciicast"
	FormatText      = "text"
	FormatTlog      = "tlog"
)

// Formats lists the export formats.
var Formats = []string{FormatAsciicast, FormatText, FormatTlog}

// AsciicastHeader is the first line of an asciicast v2 file.
type AsciicastHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp,omitempty"`
	Duration  float64           `json:"duration,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// Default size of an asciicast whose recording has no window (no TTY, or 0x0).
const (
	DefaultCols = 80
	DefaultRows = 24
)

// WriteAsciicast writes packets as an asciicast v2 recording: the header (width and height
// from the first window, 80x24 without one), then one event per packet: [t, "o", text]
// for output, [t, "i", text] for input, [t, "r", "COLSxROWS"] for each later window
// change, t in seconds from the first packet. Event data must be UTF-8 text: a character
// split between packets is carried to the next event of its direction, and bytes that are
// not UTF-8 become U+FFFD (as asciinema itself records them).
func WriteAsciicast(w io.Writer, s Summary, pkts []tlog.Packet) error {
	h := AsciicastHeader{Version: 2, Width: DefaultCols, Height: DefaultRows, Env: map[string]string{}}
	first := true
	for _, p := range pkts {
		if p.Kind == tlog.PacketWindow {
			if p.Cols > 0 && p.Rows > 0 {
				h.Width, h.Height = int(p.Cols), int(p.Rows)
			}
			break
		}
	}
	if !s.Start.IsZero() {
		h.Timestamp = s.Start.Unix()
	}
	if s.Term != "" {
		h.Env["TERM"] = s.Term
	}
	h.Title = fmt.Sprintf("%s@%s %s", s.User, s.Host, s.ID)
	var origin int64
	if len(pkts) > 0 {
		origin = pkts[0].Time
		h.Duration = float64(pkts[len(pkts)-1].Time-origin) / 1000
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return err
	}
	var carry [2][]byte // incomplete UTF-8 at the end of the last output / input event
	event := func(t int64, code string, data string) error {
		sec := strconv.FormatFloat(float64(t-origin)/1000, 'f', 3, 64)
		b, err := marshalNoHTML(data)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(bw, "[%s, %q, %s]\n", sec, code, b)
		return err
	}
	for _, p := range pkts {
		switch p.Kind {
		case tlog.PacketWindow:
			if first {
				first = false
				continue
			}
			if err := event(p.Time, "r", fmt.Sprintf("%dx%d", p.Cols, p.Rows)); err != nil {
				return err
			}
		case tlog.PacketOutput, tlog.PacketInput:
			first = false
			i, code := 0, "o"
			if p.Kind == tlog.PacketInput {
				i, code = 1, "i"
			}
			data := append(carry[i], p.Data...)
			data, carry[i] = splitIncomplete(data)
			if len(data) == 0 {
				continue
			}
			if err := event(p.Time, code, string(bytes.ToValidUTF8(data, []byte("\uFFFD")))); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// splitIncomplete splits off a UTF-8 sequence that the end of b cuts short.
func splitIncomplete(b []byte) (whole, rest []byte) {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			return b, nil
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[len(b)-i:]) {
				return b, nil
			}
			return b[:len(b)-i], append([]byte(nil), b[len(b)-i:]...)
		}
	}
	return b, nil
}

func marshalNoHTML(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// WriteText writes the output packets as plain text, escape sequences stripped (Stripper).
func WriteText(w io.Writer, pkts []tlog.Packet) error {
	bw := bufio.NewWriter(w)
	s := &Stripper{W: bw}
	for _, p := range pkts {
		if p.Kind == tlog.PacketOutput {
			if _, err := s.Write(p.Data); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// WriteTlog writes the recording's tlog messages as JSON lines, byte for byte as recorded
// (each ends in a newline), which `tlog-play -r file -i FILE` plays.
func WriteTlog(w io.Writer, r *Recording) error {
	bw := bufio.NewWriter(w)
	for _, e := range r.Messages() {
		m := e.Bytes(FieldMessage)
		if _, err := bw.Write(m); err != nil {
			return err
		}
		if len(m) == 0 || m[len(m)-1] != '\n' {
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}
