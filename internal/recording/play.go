package recording

import (
	"io"
	"sort"

	"github.com/recd-dev/recd/internal/tlog"
)

// Reset is what the player writes before re-rendering from the start: RIS (full reset),
// which also clears the screen and homes the cursor.
const Reset = "\x1bc"

// Player is the playback model: the output and window packets of a recording in time
// order and how far they have been written. It writes to a terminal what it would show at
// a given recording time; seeking backwards re-renders from the start (Reset, then every
// output packet up to the target time without delay), so the screen is exactly what
// straight play shows at that time. Timing (sleeping between packets) is the caller's.
type Player struct {
	pkts []tlog.Packet
	next int   // index of the next packet to write
	pos  int64 // recording time played up to, ms
	cols uint16
	rows uint16
	win  bool
}

// NewPlayer returns a player at the start of the packets; input packets are dropped (a
// player shows output only, as tlog-play does).
func NewPlayer(pkts []tlog.Packet) *Player {
	p := &Player{}
	p.Append(pkts)
	return p
}

// Append adds packets that follow the ones the player has (play --follow).
func (p *Player) Append(pkts []tlog.Packet) {
	for _, k := range pkts {
		if k.Kind == tlog.PacketOutput || k.Kind == tlog.PacketWindow {
			p.pkts = append(p.pkts, k)
		}
	}
}

// Pos is the recording time played up to, in ms.
func (p *Player) Pos() int64 { return p.pos }

// Length is the time of the last packet, in ms.
func (p *Player) Length() int64 {
	if len(p.pkts) == 0 {
		return 0
	}
	return p.pkts[len(p.pkts)-1].Time
}

// AtEnd reports whether every packet has been written.
func (p *Player) AtEnd() bool { return p.next >= len(p.pkts) }

// NextTime is the time of the next packet to write; ok is false at the end.
func (p *Player) NextTime() (t int64, ok bool) {
	if p.AtEnd() {
		return 0, false
	}
	return p.pkts[p.next].Time, true
}

// WindowSize is the last window size written (ok false when none yet).
func (p *Player) WindowSize() (cols, rows uint16, ok bool) { return p.cols, p.rows, p.win }

// Step writes the next packet and the ones at the same time.
func (p *Player) Step(w io.Writer) error {
	t, ok := p.NextTime()
	if !ok {
		return nil
	}
	return p.AdvanceTo(w, t)
}

// AdvanceTo writes the packets up to recording time t (inclusive) from the current
// position; it never goes back.
func (p *Player) AdvanceTo(w io.Writer, t int64) error {
	for p.next < len(p.pkts) && p.pkts[p.next].Time <= t {
		k := p.pkts[p.next]
		p.next++
		switch k.Kind {
		case tlog.PacketOutput:
			if _, err := w.Write(k.Data); err != nil {
				return err
			}
		case tlog.PacketWindow:
			p.cols, p.rows, p.win = k.Cols, k.Rows, true
		}
	}
	if t > p.pos {
		p.pos = t
	}
	if end := p.Length(); p.pos > end && p.AtEnd() {
		p.pos = end
	}
	return nil
}

// SeekTo makes the screen show recording time t: forwards it writes the packets in
// between at once; backwards it writes Reset and re-renders from the start.
func (p *Player) SeekTo(w io.Writer, t int64) error {
	if t < 0 {
		t = 0
	}
	if t >= p.pos {
		return p.AdvanceTo(w, t)
	}
	if _, err := io.WriteString(w, Reset); err != nil {
		return err
	}
	p.next, p.pos, p.win = 0, 0, false
	return p.AdvanceTo(w, t)
}

// IndexAt is the number of packets at or before time t (for tests and status lines).
func (p *Player) IndexAt(t int64) int {
	return sort.Search(len(p.pkts), func(i int) bool { return p.pkts[i].Time > t })
}
