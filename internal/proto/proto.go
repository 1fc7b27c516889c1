// Package proto is the wire format on /run/recd/recd.sock, the socket through which recctl,
// pam_recd and recd-session talk to recd.
//
// A frame is a 4-byte big-endian length N followed by N bytes: one type byte and the payload.
// Type 'J' carries one JSON object (a Request or a Response). The length is checked against
// MaxFrame before anything is allocated, so a hostile client cannot make recd allocate more
// than MaxFrame for one frame. The client's identity is never taken from a frame: recd reads
// it from the socket with SO_PEERCRED.
package proto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SocketPath is where recd listens (recd.socket under systemd, or recd itself).
const SocketPath = "/run/recd/recd.sock"

// MaxFrame is the largest frame body recd accepts, type byte included.
const MaxFrame = 1 << 20

// Frame types.
const (
	// TypeJSON frames carry one JSON-encoded Request or Response.
	TypeJSON byte = 'J'
)

// ErrFrameTooLarge is returned when a peer announces a frame larger than MaxFrame.
var ErrFrameTooLarge = errors.New("frame larger than the 1 MiB limit")

// Frame is one decoded frame.
type Frame struct {
	Type    byte
	Payload []byte
}

// ReadFrame reads one frame. It returns io.EOF only on a clean end between frames and
// io.ErrUnexpectedEOF when the stream ends inside a frame.
func ReadFrame(r io.Reader) (Frame, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return Frame{}, errors.New("empty frame: a frame needs at least a type byte")
	}
	if n > MaxFrame {
		return Frame{}, fmt.Errorf("%w (announced %d bytes)", ErrFrameTooLarge, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("reading a %d-byte frame: %w", n, err)
	}
	return Frame{Type: body[0], Payload: body[1:]}, nil
}

// WriteFrame writes one frame in a single Write call.
func WriteFrame(w io.Writer, f Frame) error {
	n := len(f.Payload) + 1
	if n > MaxFrame {
		return fmt.Errorf("writing frame: %w (%d bytes)", ErrFrameTooLarge, n)
	}
	buf := make([]byte, 4+n)
	binary.BigEndian.PutUint32(buf, uint32(n))
	buf[4] = f.Type
	copy(buf[5:], f.Payload)
	_, err := w.Write(buf)
	return err
}

// Request is a request from recctl, pam_recd (and later recd-session).
type Request struct {
	// Op names the operation: "status", "reload", "sessions", "session-open",
	// "session-close", "record-open" or "record-close".
	Op string `json:"op"`

	// The fields below describe a login, for "session-open" and "session-close" (sent by
	// pam_recd from its PAM items). They are what the client says: recd takes the client's
	// identity from SO_PEERCRED and only accepts User from a root client or one whose UID
	// is User's.

	// User is PAM_USER.
	User string `json:"user,omitempty"`
	// Service is PAM_SERVICE (sshd, login, su, ...).
	Service string `json:"service,omitempty"`
	// TTY is PAM_TTY (/dev/pts/1, or "ssh" for a session without a terminal).
	TTY string `json:"tty,omitempty"`
	// RHost is PAM_RHOST, the remote host, when there is one.
	RHost string `json:"rhost,omitempty"`
	// PID is the client's process ID as it sees it (its PID namespace may differ).
	PID int `json:"pid,omitempty"`
	// AuditSession is the client's /proc/self/sessionid; 4294967295 means unset.
	AuditSession uint32 `json:"audit_session,omitempty"`

	// Record opens a recording (OpRecordOpen, sent by recd-session; see record.go).
	Record *RecordOpen `json:"record,omitempty"`
	// Close ends a recording (OpRecordClose).
	Close *RecordClose `json:"close,omitempty"`
	// Watch names the recording to watch (OpWatch; see watch.go).
	Watch *WatchRequest `json:"watch,omitempty"`
}

// Operations pam_recd sends.
const (
	OpSessionOpen  = "session-open"
	OpSessionClose = "session-close"
)

// AuditSessionUnset is the kernel's audit session ID of a process outside any login.
const AuditSessionUnset = 4294967295

// Response answers one Request.
type Response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Status is set for "status" and "reload".
	Status *Status `json:"status,omitempty"`
	// Record answers OpRecordOpen.
	Record *RecordGrant `json:"record,omitempty"`
	// Recordings answers OpSessions.
	Recordings []ActiveRecording `json:"recordings,omitempty"`
}

// OpSessions lists the recordings in progress (recctl sessions): all of them for root,
// the caller's own for anyone else. It changes nothing.
const OpSessions = "sessions"

// ActiveRecording describes a recording in progress.
type ActiveRecording struct {
	// Rec is the recording ID (TLOG_REC).
	Rec  string `json:"rec"`
	User string `json:"user"`
	UID  uint32 `json:"uid"`
	// Service, TTY and RHost come from the login pam_recd registered ("" when unknown).
	Service string `json:"service,omitempty"`
	TTY     string `json:"tty,omitempty"`
	RHost   string `json:"rhost,omitempty"`
	// Mode is ModeTTY or ModeCommand.
	Mode         string `json:"mode"`
	RecorderPID  int32  `json:"recorder_pid"`
	AuditSession uint32 `json:"audit_session"`
	// Started is when the recording started (RFC 3339).
	Started string `json:"started"`
	// Messages, BytesOut and BytesIn count what is recorded so far.
	Messages uint64 `json:"messages"`
	BytesOut uint64 `json:"bytes_out"`
	BytesIn  uint64 `json:"bytes_in"`
	// Connected is false while recd waits for the recorder to reconnect.
	Connected bool `json:"connected"`
}

// Status describes the daemon and the policy in force.
type Status struct {
	PID int `json:"pid"`
	// Started is when recd started (RFC 3339).
	Started string `json:"started"`
	// PolicyActivated is when the snapshot in force was written (RFC 3339), empty if none.
	PolicyActivated string `json:"policy_activated,omitempty"`
	// PolicySummary is a one-line summary of the active policy.
	PolicySummary string `json:"policy_summary,omitempty"`
	// LastError is the last configuration error; the policy in force is then the last good one.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when LastError happened (RFC 3339).
	LastErrorAt string `json:"last_error_at,omitempty"`
	// Reloads counts successful activations since start.
	Reloads int `json:"reloads"`
	// Sessions counts the logins pam_recd registered that have not logged out.
	Sessions int `json:"sessions"`
}

// WriteJSON encodes v as a TypeJSON frame.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %T: %w", v, err)
	}
	return WriteFrame(w, Frame{Type: TypeJSON, Payload: b})
}

// ReadJSON reads one frame, requires it to be TypeJSON and decodes it into v, rejecting
// unknown fields so that a typo in a client is an error and not a silent default.
func ReadJSON(r io.Reader, v any) error {
	f, err := ReadFrame(r)
	if err != nil {
		return err
	}
	if f.Type != TypeJSON {
		return fmt.Errorf("unexpected frame type %q, want %q", f.Type, TypeJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(f.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding %T: %w", v, err)
	}
	if dec.More() {
		return fmt.Errorf("decoding %T: trailing data after the JSON object", v)
	}
	return nil
}
