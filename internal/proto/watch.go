package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The live view (recctl watch).
//
// recctl sends a TypeJSON Request{Op: OpWatch, Watch: &WatchRequest{Rec: id}} and gets one
// TypeJSON WatchReply. When the reply is OK, the connection then carries, from recd to the
// watcher only:
//
//	TypeLive frames: a batch of LiveEvents (EncodeLive). The first batch is the snapshot:
//	    the window size (LiveWindow) and the recent output (LiveSnapshot), from which the
//	    watcher draws the current screen; then every output and window event as recd
//	    receives it from the recorder.
//	one last TypeJSON WatchEnd frame, when the recording closes, recd stops, or recd
//	    drops a watcher that does not read.
//
// The view is read-only: the watcher sends nothing after its request, and recd ends the
// watch if it does. A watcher that falls behind never slows the recording: recd stops
// queueing for it, and when it catches up sends LiveSkipped (how many bytes it missed),
// then a fresh snapshot, and goes on live from there.
//
// Only root and members of the [access] auditors group may watch (recd checks the
// SO_PEERCRED UID); others get WatchReply{Denied: true}.

// OpWatch asks for the live view of a recording in progress.
const OpWatch = "watch"

// TypeLive frames carry a batch of LiveEvents, encoded by EncodeLive.
const TypeLive byte = 'L'

// WatchRequest names the recording to watch (Request.Watch).
type WatchRequest struct {
	// Rec is the recording ID (TLOG_REC), as recctl sessions shows it.
	Rec string `json:"rec"`
}

// WatchReply answers OpWatch. Its JSON is a superset of an error Response's (ok, error),
// so a client can decode either into it.
type WatchReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Denied is set when the caller may not watch (neither root nor an auditor).
	Denied bool `json:"denied,omitempty"`
	// NotFound is set when no recording with that ID is in progress.
	NotFound bool `json:"not_found,omitempty"`
	// Recording describes the recording watched.
	Recording *ActiveRecording `json:"recording,omitempty"`
	// Received counts the output bytes recd had received for the recording when the
	// snapshot was taken (recorded or not yet written to the journal).
	Received uint64 `json:"received"`
}

// WatchEnd is the last frame of a watch.
type WatchEnd struct {
	// Status is the recording's closing status (complete, truncated, aborted), or
	// "stopped" (recd stopped; the recording continues with the next recd) or "dropped"
	// (recd let this watcher go).
	Status string `json:"status"`
	// Reason says more (the recording's close reason, or why the watcher was dropped).
	Reason string `json:"reason,omitempty"`
}

// Watch end statuses besides the recording's own closing statuses.
const (
	WatchStopped = "stopped"
	WatchDropped = "dropped"
)

// LiveKind says what a LiveEvent carries.
type LiveKind byte

// Live event kinds.
const (
	// LiveOutput: bytes the session's terminal showed.
	LiveOutput LiveKind = 'o'
	// LiveWindow: the window size; Data is 4 bytes (WindowData).
	LiveWindow LiveKind = 'w'
	// LiveSnapshot: the recent output (at most a bounded amount, starting at the last
	// screen clear recd saw when there is one), to be written to a reset terminal.
	LiveSnapshot LiveKind = 's'
	// LiveSkipped: the watcher fell behind and missed output; Data is the byte count, 8
	// bytes (CountData). A LiveSnapshot follows.
	LiveSkipped LiveKind = 'k'
)

func (k LiveKind) valid() bool {
	switch k {
	case LiveOutput, LiveWindow, LiveSnapshot, LiveSkipped:
		return true
	}
	return false
}

// LiveEvent is one piece of the live view.
type LiveEvent struct {
	Kind LiveKind
	// Micros is the event's time in µs since the recording's start (0 for snapshots).
	Micros uint64
	Data   []byte
}

// liveHeader is kind(1) micros(8) len(4).
const liveHeader = 13

// EncodedSize is the size of e in a live frame.
func (e LiveEvent) EncodedSize() int { return liveHeader + len(e.Data) }

// AppendLive appends the encoding of e to b.
func AppendLive(b []byte, e LiveEvent) []byte {
	var h [liveHeader]byte
	h[0] = byte(e.Kind)
	binary.BigEndian.PutUint64(h[1:], e.Micros)
	binary.BigEndian.PutUint32(h[9:], uint32(len(e.Data)))
	return append(append(b, h[:]...), e.Data...)
}

// EncodeLive encodes a batch for a TypeLive frame; the caller keeps it within MaxFrame-1
// bytes (sum of EncodedSize).
func EncodeLive(evs []LiveEvent) []byte { return encodeBatch(evs, AppendLive) }

// ErrBadLive is wrapped by every DecodeLive error.
var ErrBadLive = errors.New("malformed live frame")

// DecodeLive decodes a TypeLive payload. Data slices alias p. It checks every length
// against the payload, that kinds are known and that window and count events have their
// fixed sizes.
func DecodeLive(p []byte) ([]LiveEvent, error) {
	var evs []LiveEvent
	for off := 0; off < len(p); {
		if len(p)-off < liveHeader {
			return nil, fmt.Errorf("%w: %d trailing bytes at offset %d, shorter than an event header", ErrBadLive, len(p)-off, off)
		}
		e := LiveEvent{Kind: LiveKind(p[off]), Micros: binary.BigEndian.Uint64(p[off+1:])}
		n := binary.BigEndian.Uint32(p[off+9:])
		off += liveHeader
		if int64(n) > int64(len(p)-off) {
			return nil, fmt.Errorf("%w: event at offset %d announces %d bytes, %d remain", ErrBadLive, off-liveHeader, n, len(p)-off)
		}
		if !e.Kind.valid() {
			return nil, fmt.Errorf("%w: unknown kind %q at offset %d", ErrBadLive, byte(e.Kind), off-liveHeader)
		}
		e.Data = p[off : off+int(n)]
		off += int(n)
		switch {
		case e.Kind == LiveWindow && n != 4:
			return nil, fmt.Errorf("%w: window event has %d bytes, want 4", ErrBadLive, n)
		case e.Kind == LiveSkipped && n != 8:
			return nil, fmt.Errorf("%w: skip event has %d bytes, want 8", ErrBadLive, n)
		}
		evs = append(evs, e)
	}
	return evs, nil
}
