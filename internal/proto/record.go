package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The recording stream.
//
// A recorder (recd-session) opens a recording with a TypeJSON Request{Op: OpRecordOpen,
// Record: &RecordOpen{…}} and gets a Response{Record: &RecordGrant{…}}. From then on the
// connection carries:
//
//	recorder → recd  TypeEvents frames: a batch of Events (EncodeEvents)
//	recorder → recd  TypeJSON Request{Op: OpRecordClose, Close: &RecordClose{…}} (last frame)
//	recd → recorder  TypeAck frames: every event with Seq < Ack.Next is in the journal
//	recd → recorder  TypeJSON Response to the close, once the closing entry is written
//
// Every event carries a sequence number (1, 2, 3, … per recording, never reused) and its
// time. The recorder keeps each event until it is acknowledged; after a reconnect (recd
// restarted or crashed) it opens again with RecordOpen.Resume and resends every event from
// RecordGrant.ResumeSeq on, skipping RecordGrant.ResumeSkip bytes of that first event,
// which recd had already written. So the recording has neither gap nor duplicate.
//
// recd never takes the recorder's identity from these frames: the user and the recorder
// PID come from SO_PEERCRED, and a resume is accepted only from the process whose PID and
// start time are encoded in the recording ID.

// Frame types of the recording stream.
const (
	// TypeEvents frames carry a batch of Events, encoded by EncodeEvents.
	TypeEvents byte = 'E'
	// TypeAck frames carry one Ack, encoded by EncodeAck.
	TypeAck byte = 'A'
)

// Operations of the recording stream.
const (
	OpRecordOpen  = "record-open"
	OpRecordClose = "record-close"
)

// Recording modes (RecordOpen.Mode).
const (
	// ModeTTY: a standard fd of the login is a terminal; the shell runs on a PTY.
	ModeTTY = "tty"
	// ModeCommand: no terminal (ssh host cmd, scp, sftp, rsync); the data passes through
	// pipes untouched, and [recorder] record_commands says what is recorded.
	ModeCommand = "command"
)

// Window is a terminal size.
type Window struct {
	Cols uint16 `json:"cols"`
	Rows uint16 `json:"rows"`
}

// RecordOpen is what a recorder says about the login it records. recd trusts none of it
// for identity (that comes from SO_PEERCRED); it is recorded as the recorder saw it.
type RecordOpen struct {
	// Mode is ModeTTY or ModeCommand.
	Mode string `json:"mode"`
	// Term is $TERM ("" when unset).
	Term string `json:"term"`
	// Shell is the real shell the recorder starts.
	Shell string `json:"shell"`
	// Command is the -c argument, when there is one.
	Command string `json:"command,omitempty"`
	// Login is true when the recorder runs as a login shell (argv[0] starts with "-").
	Login bool `json:"login,omitempty"`
	// TTY is the recorder's own terminal (e.g. /dev/pts/3), "" without one.
	TTY string `json:"tty,omitempty"`
	// Window is the initial window size in ModeTTY.
	Window *Window `json:"window,omitempty"`
	// StartUnixMicro is the wall-clock time of the recording's start (event time 0).
	StartUnixMicro int64 `json:"start_unix_us"`
	// Resume, when set, continues an existing recording after a reconnect.
	Resume *Resume `json:"resume,omitempty"`
}

// Resume identifies the recording a reconnecting recorder continues.
type Resume struct {
	// Rec is RecordGrant.Rec of the first open.
	Rec string `json:"rec"`
	// FirstUnacked is the sequence number of the oldest event the recorder still holds.
	FirstUnacked uint64 `json:"first_unacked"`
	// Lost counts output bytes the recorder could not keep while recd was away (its buffer
	// overflowed); recd writes the loss into the recording.
	Lost uint64 `json:"lost,omitempty"`
}

// RecordGrant is recd's answer to RecordOpen.
type RecordGrant struct {
	// Rec is the recording ID (tlog's TLOG_REC), empty when Nested or Refused.
	Rec string `json:"rec,omitempty"`
	// Nested is true when this login runs inside a session that is already recorded (su,
	// sudo -i): the recorder starts the shell without recording, since the outer recording
	// already holds its I/O. Outer is that recording's ID.
	Nested bool   `json:"nested,omitempty"`
	Outer  string `json:"outer,omitempty"`
	// Refused, when not empty, is the message to show the user: the login must not start
	// (on_unavailable = deny, or the recording cannot be made).
	Refused string `json:"refused,omitempty"`
	// ResumeSeq and ResumeSkip tell a resuming recorder where to start resending: event
	// ResumeSeq, from its byte ResumeSkip on. Events before it are in the journal.
	ResumeSeq  uint64 `json:"resume_seq,omitempty"`
	ResumeSkip uint32 `json:"resume_skip,omitempty"`
	// Settings are the recorder settings in force (from recd.conf, never from the user).
	Settings RecorderSettings `json:"settings"`
}

// RecorderSettings are the [recorder] settings a recorder needs.
type RecorderSettings struct {
	Notice         string `json:"notice"`
	Shell          string `json:"shell"`
	LogInput       bool   `json:"log_input"`
	LogOutput      bool   `json:"log_output"`
	LogWindow      bool   `json:"log_window"`
	LimitAction    string `json:"limit_action"`
	Buffer         int64  `json:"buffer"`
	OnUnavailable  string `json:"on_unavailable"`
	RecordCommands string `json:"record_commands"`
	// LatencyMillis is how long the recorder may hold data before sending it.
	LatencyMillis int64 `json:"latency_ms"`
}

// RecordClose ends a recording.
type RecordClose struct {
	// LastSeq is the sequence number of the last event sent (0 if none).
	LastSeq uint64 `json:"last_seq"`
	// ExitStatus is the shell's status as a shell reports it (128+signal if killed).
	ExitStatus int `json:"exit_status"`
	// Signal is the signal that killed the shell, 0 if it exited.
	Signal int `json:"signal,omitempty"`
	// Reason says why the session ended: "exit", "hangup", "recorder-signal", "error".
	Reason string `json:"reason"`
	// Error explains Reason "error" (e.g. the real shell is missing), for recd's log.
	Error string `json:"error,omitempty"`
	// BytesIn, BytesOut and BytesErr count the bytes relayed in each direction, recorded
	// or not (the only record of a command under record_commands = metadata).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	BytesErr uint64 `json:"bytes_err"`
	// Lost counts output bytes the recorder had to drop (buffer overrun), not yet reported.
	Lost uint64 `json:"lost,omitempty"`
}

// EventKind says what an Event carries.
type EventKind byte

// Event kinds.
const (
	// EventOutput: bytes the terminal showed (or the command's stdout).
	EventOutput EventKind = 'o'
	// EventStderr: a command's stderr (ModeCommand with record_commands = full).
	EventStderr EventKind = 'e'
	// EventInput: bytes typed (only with log_input).
	EventInput EventKind = 'i'
	// EventWindow: the window size changed; Data is 4 bytes, cols and rows, big-endian.
	EventWindow EventKind = 'w'
	// EventInputWithheld: input typed with echo off was not recorded; Data is the byte
	// count, 8 bytes big-endian.
	EventInputWithheld EventKind = 'h'
	// EventLost: the recorder dropped output (buffer full while recd was away); Data is
	// the byte count, 8 bytes big-endian.
	EventLost EventKind = 'l'
)

func (k EventKind) valid() bool {
	switch k {
	case EventOutput, EventStderr, EventInput, EventWindow, EventInputWithheld, EventLost:
		return true
	}
	return false
}

// MaxEventData is the largest Data of one event.
const MaxEventData = 64 << 10

// Event is one piece of the recorded stream.
type Event struct {
	// Seq numbers events 1, 2, 3, … within a recording.
	Seq uint64
	// Micros is the event's time in µs since the recording's start (monotonic clock).
	Micros uint64
	Kind   EventKind
	Data   []byte
}

// eventHeader is seq(8) micros(8) kind(1) len(4).
const eventHeader = 21

// EncodedSize is the size of e in an events frame.
func (e Event) EncodedSize() int { return eventHeader + len(e.Data) }

// AppendEvent appends the encoding of e to b.
func AppendEvent(b []byte, e Event) []byte {
	var h [eventHeader]byte
	binary.BigEndian.PutUint64(h[0:], e.Seq)
	binary.BigEndian.PutUint64(h[8:], e.Micros)
	h[16] = byte(e.Kind)
	binary.BigEndian.PutUint32(h[17:], uint32(len(e.Data)))
	return append(append(b, h[:]...), e.Data...)
}

// EncodeEvents encodes a batch for a TypeEvents frame. The caller keeps the batch within
// MaxFrame-1 bytes (sum of EncodedSize).
func EncodeEvents(evs []Event) []byte { return encodeBatch(evs, AppendEvent) }

// encodeBatch encodes evs one after the other with appendOne into a buffer allocated once.
func encodeBatch[E interface{ EncodedSize() int }](evs []E, appendOne func([]byte, E) []byte) []byte {
	n := 0
	for _, e := range evs {
		n += e.EncodedSize()
	}
	b := make([]byte, 0, n)
	for _, e := range evs {
		b = appendOne(b, e)
	}
	return b
}

// ErrBadEvents is wrapped by every DecodeEvents error.
var ErrBadEvents = errors.New("malformed events frame")

// DecodeEvents decodes a TypeEvents payload. Data slices alias p. It checks every length
// against the payload and MaxEventData, that kinds are known, that window and count events
// have their fixed sizes, and that sequence numbers increase by one within the batch.
func DecodeEvents(p []byte) ([]Event, error) {
	var evs []Event
	for off := 0; off < len(p); {
		if len(p)-off < eventHeader {
			return nil, fmt.Errorf("%w: %d trailing bytes at offset %d, shorter than an event header", ErrBadEvents, len(p)-off, off)
		}
		e := Event{
			Seq:    binary.BigEndian.Uint64(p[off:]),
			Micros: binary.BigEndian.Uint64(p[off+8:]),
			Kind:   EventKind(p[off+16]),
		}
		n := binary.BigEndian.Uint32(p[off+17:])
		off += eventHeader
		if n > MaxEventData || int(n) > len(p)-off {
			return nil, fmt.Errorf("%w: event %d announces %d bytes, %d remain (limit %d)", ErrBadEvents, e.Seq, n, len(p)-off, MaxEventData)
		}
		if !e.Kind.valid() {
			return nil, fmt.Errorf("%w: event %d has unknown kind %q", ErrBadEvents, e.Seq, byte(e.Kind))
		}
		e.Data = p[off : off+int(n)]
		off += int(n)
		switch e.Kind {
		case EventWindow:
			if n != 4 {
				return nil, fmt.Errorf("%w: window event %d has %d bytes, want 4", ErrBadEvents, e.Seq, n)
			}
		case EventInputWithheld, EventLost:
			if n != 8 {
				return nil, fmt.Errorf("%w: count event %d has %d bytes, want 8", ErrBadEvents, e.Seq, n)
			}
		}
		if e.Seq == 0 {
			return nil, fmt.Errorf("%w: event sequence number 0", ErrBadEvents)
		}
		if len(evs) > 0 && e.Seq != evs[len(evs)-1].Seq+1 {
			return nil, fmt.Errorf("%w: event %d follows event %d", ErrBadEvents, e.Seq, evs[len(evs)-1].Seq)
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// WindowData encodes a window size as EventWindow data.
func WindowData(w Window) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, w.Cols)
	binary.BigEndian.PutUint16(b[2:], w.Rows)
	return b
}

// WindowOf decodes EventWindow data (4 bytes, as checked by DecodeEvents).
func WindowOf(d []byte) Window {
	return Window{Cols: binary.BigEndian.Uint16(d), Rows: binary.BigEndian.Uint16(d[2:])}
}

// CountData encodes a byte count as EventInputWithheld or EventLost data.
func CountData(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// CountOf decodes EventInputWithheld or EventLost data (8 bytes, as checked by DecodeEvents).
func CountOf(d []byte) uint64 { return binary.BigEndian.Uint64(d) }

// Ack acknowledges events: every event with Seq < Next is in the journal.
type Ack struct {
	Next uint64
}

// EncodeAck encodes a for a TypeAck frame.
func EncodeAck(a Ack) []byte { return binary.BigEndian.AppendUint64(nil, a.Next) }

// DecodeAck decodes a TypeAck payload.
func DecodeAck(p []byte) (Ack, error) {
	if len(p) != 8 {
		return Ack{}, fmt.Errorf("malformed ack frame: %d bytes, want 8", len(p))
	}
	return Ack{Next: binary.BigEndian.Uint64(p)}, nil
}
